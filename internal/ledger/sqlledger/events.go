package sqlledger

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// ---- events ----

func (s *Store) PendingEvents(ctx context.Context, n int) ([]ledger.Event, error) {
	return s.eventsNot(ctx, "published", n, "pending events")
}

// eventsNot reads the first n events, in id order, whose mark (published
// or notified) is not yet set.
func (s *Store) eventsNot(ctx context.Context, mark string, n int, what string) ([]ledger.Event, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT id, kind, person, data, at FROM events WHERE `+mark+` = 0 ORDER BY id LIMIT ?`), n)
	if err != nil {
		return nil, classify(err, what)
	}
	defer rows.Close()
	var out []ledger.Event
	for rows.Next() {
		var (
			e    ledger.Event
			data string
			at   int64
		)
		if err := rows.Scan(&e.ID, &e.Kind, &e.Person, &data, &at); err != nil {
			return nil, classify(err, what)
		}
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, corrupt("event", strconv.FormatInt(e.ID, 10), "data", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, classify(rows.Err(), what)
}

func (s *Store) MarkPublished(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE events SET published = 1 WHERE id IN (`+ph+`)`), args...)
	return classify(err, "mark published")
}
