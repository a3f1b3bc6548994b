// Package review runs access review campaigns (DESIGN.md "Access reviews
// and the access register"): it starts a campaign of a system (by a
// command or on the schedule of the system's review: policy), records the
// target's last sign-ins as each item's recommendation, and closes a
// campaign at its end, revoking what reviewers removed (and, under
// if_no_response: remove, what nobody answered) through the engine's
// ordinary revoke path.
//
// What a campaign is made of and how a decision is judged is the engine's
// (engine.StartReview, engine's review decision); this package drives it:
// the transactions, the batches of a close, the schedule and the reads of
// the targets.
//
// A close is resumable. It first marks the campaign closing, then applies
// its items a batch at a time, each batch one transaction that revokes and
// marks its items applied together, and marks the campaign closed with
// the last. A crash between batches leaves a campaign closing, which the
// next close (the schedule's or a command's) finishes; an item applied is
// never applied again, so nothing is revoked twice.
package review
