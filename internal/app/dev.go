package app

import (
	"context"
	"errors"
)

func runDev(ctx context.Context, o DevOptions) error { return errors.New("dev: not wired yet") }
