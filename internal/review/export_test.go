package review

// SetAfterBatch sets what runs after each committed close batch.
func SetAfterBatch(r *Runner, f func(n int) error) { r.afterBatch = f }
