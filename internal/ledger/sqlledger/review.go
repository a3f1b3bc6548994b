package sqlledger

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Access review campaigns (ledger.Reviews, ledger.ReviewTx). An item's
// reviewers are kept twice: in order in the item row, and one row each in
// review_reviewers, so a reviewer's items across campaigns are an index
// read.

var (
	_ ledger.Reviews  = (*Store)(nil)
	_ ledger.ReviewTx = (*tx)(nil)
)

const campaignCols = `id, system, state, reviewers, if_no_response, justification, started_by, started_at, ends_at,
	closed_by, closed_at, recommended, items, catalogue, updated`

func scanCampaign(sc interface{ Scan(...any) error }) (*ledger.ReviewCampaign, error) {
	var (
		c                                           ledger.ReviewCampaign
		started, ends, closed, updated, recommended int64
	)
	if err := sc.Scan(&c.ID, &c.System, &c.State, &c.Reviewers, &c.IfNoResponse, &c.Justification, &c.StartedBy,
		&started, &ends, &c.ClosedBy, &closed, &recommended, &c.Items, &c.Catalogue, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read review campaign")
	}
	c.StartedAt, c.EndsAt, c.ClosedAt, c.Updated, c.Recommended = fromMS(started), fromMS(ends), fromMS(closed), fromMS(updated), recommended != 0
	return &c, nil
}

const itemCols = `campaign_id, grant_id, person, role, birthright, reviewers, decision, decided_by, decided_at, comment,
	recommendation, last_sign_in, applied, outcome`

const itemColsI = `i.campaign_id, i.grant_id, i.person, i.role, i.birthright, i.reviewers, i.decision, i.decided_by,
	i.decided_at, i.comment, i.recommendation, i.last_sign_in, i.applied, i.outcome`

func scanItem(sc interface{ Scan(...any) error }) (*ledger.ReviewItem, error) {
	var (
		it                   ledger.ReviewItem
		birthright, applied  int
		reviewers            string
		decidedAt, lastLogin int64
	)
	if err := sc.Scan(&it.CampaignID, &it.GrantID, &it.Person, &it.Role, &birthright, &reviewers, &it.Decision, &it.DecidedBy,
		&decidedAt, &it.Comment, &it.Recommendation, &lastLogin, &applied, &it.Outcome); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read review item")
	}
	it.Birthright, it.Applied = birthright != 0, applied != 0
	it.DecidedAt, it.LastSignIn = fromMS(decidedAt), fromMS(lastLogin)
	if reviewers != "" {
		it.Reviewers = strings.Split(reviewers, ",")
	}
	return &it, nil
}

func scanItems(rows *sql.Rows) ([]ledger.ReviewItem, error) {
	defer rows.Close()
	out := []ledger.ReviewItem{}
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *it)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "read review items")
	}
	return out, nil
}

func (s *Store) Campaign(ctx context.Context, id string) (*ledger.ReviewCampaign, error) {
	return scanCampaign(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT `+campaignCols+` FROM review_campaigns WHERE id = ?`), id))
}

func (s *Store) Campaigns(ctx context.Context, f ledger.ReviewCampaignFilter) ([]ledger.ReviewCampaign, error) {
	q := `SELECT ` + campaignCols + ` FROM review_campaigns WHERE true`
	var args []any
	if f.System != "" {
		q += ` AND system = ?`
		args = append(args, f.System)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ") + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	q += ` ORDER BY started_at DESC, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "list review campaigns")
	}
	defer rows.Close()
	out := []ledger.ReviewCampaign{}
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, classify(rows.Err(), "list review campaigns")
}

// itemQuery builds the select of ReviewItems for f (prefix i. on the item).
func itemQuery(f ledger.ReviewItemFilter) (string, []any) {
	q := `SELECT ` + itemColsI + ` FROM review_items i`
	var args []any
	if f.Reviewer != "" {
		q += ` JOIN review_reviewers r ON r.campaign_id = i.campaign_id AND r.grant_id = i.grant_id AND r.reviewer = ?`
		args = append(args, f.Reviewer)
	}
	if f.OpenCampaigns {
		q += ` JOIN review_campaigns c ON c.id = i.campaign_id AND c.state = 'open'`
	}
	q += ` WHERE true`
	if f.CampaignID != "" {
		q += ` AND i.campaign_id = ?`
		args = append(args, f.CampaignID)
	}
	if f.Open {
		q += ` AND i.decision = ''`
	}
	if f.After != (ledger.ReviewItemKey{}) {
		q += ` AND (i.person > ? OR (i.person = ? AND (i.role > ? OR (i.role = ? AND i.grant_id > ?))))`
		args = append(args, f.After.Person, f.After.Person, f.After.Role, f.After.Role, f.After.GrantID)
	}
	q += ` ORDER BY i.campaign_id, i.person, i.role, i.grant_id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return q, args
}

func (s *Store) ReviewItems(ctx context.Context, f ledger.ReviewItemFilter) ([]ledger.ReviewItem, error) {
	q, args := itemQuery(f)
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "list review items")
	}
	return scanItems(rows)
}

func (s *Store) ReviewCounts(ctx context.Context, campaignID string) (ledger.ReviewCounts, error) {
	var c ledger.ReviewCounts
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT decision, COUNT(*) FROM review_items WHERE campaign_id = ? GROUP BY decision`), campaignID)
	if err != nil {
		return c, classify(err, "count review items")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d string
			n int
		)
		if err := rows.Scan(&d, &n); err != nil {
			return c, classify(err, "count review items")
		}
		c.Items += n
		switch d {
		case tilgang.ReviewKeep:
			c.Keep += n
		case tilgang.ReviewRemove:
			c.Remove += n
		case tilgang.ReviewAcknowledged:
			c.Acknowledged += n
		default:
			c.Open += n
		}
	}
	return c, classify(rows.Err(), "count review items")
}

func (s *Store) SetRecommendations(ctx context.Context, campaignID string, recs map[string]ledger.Recommendation) error {
	t, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	tt := t.(*tx)
	for grantID, r := range recs {
		if _, err := tt.exec(`UPDATE review_items SET recommendation = ?, last_sign_in = ? WHERE campaign_id = ? AND grant_id = ?`,
			r.Value, ms(r.LastSignIn), campaignID, grantID); err != nil {
			return err
		}
	}
	if _, err := tt.exec(`UPDATE review_campaigns SET recommended = 1 WHERE id = ?`, campaignID); err != nil {
		return err
	}
	return t.Commit()
}

func (t *tx) InsertCampaign(c ledger.ReviewCampaign) error {
	_, err := t.exec(`INSERT INTO review_campaigns (`+campaignCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.System, c.State, c.Reviewers, c.IfNoResponse, c.Justification, c.StartedBy, ms(c.StartedAt), ms(c.EndsAt),
		c.ClosedBy, ms(c.ClosedAt), b2i(c.Recommended), c.Items, c.Catalogue, ms(c.Updated))
	return err
}

func (t *tx) UpdateCampaign(c ledger.ReviewCampaign) error {
	_, err := t.exec(`UPDATE review_campaigns SET state = ?, closed_by = ?, closed_at = ?, recommended = ?, items = ?, updated = ?
		WHERE id = ?`, c.State, c.ClosedBy, ms(c.ClosedAt), b2i(c.Recommended), c.Items, ms(c.Updated), c.ID)
	return err
}

func (t *tx) CampaignTx(id string) (*ledger.ReviewCampaign, error) {
	row, err := t.queryRow(`SELECT `+campaignCols+` FROM review_campaigns WHERE id = ? FOR SHARE`, id)
	if err != nil {
		return nil, err
	}
	return scanCampaign(row)
}

func (t *tx) LockCampaign(id string) (*ledger.ReviewCampaign, error) {
	row, err := t.queryRow(`SELECT `+campaignCols+` FROM review_campaigns WHERE id = ? FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	return scanCampaign(row)
}

func (t *tx) ActiveCampaign(system string) (*ledger.ReviewCampaign, error) {
	row, err := t.queryRow(`SELECT `+campaignCols+` FROM review_campaigns WHERE system = ? AND state IN ('open', 'closing')`, system)
	if err != nil {
		return nil, err
	}
	return scanCampaign(row)
}

func (t *tx) InsertReviewItems(items []ledger.ReviewItem) error {
	rows := make([][]any, 0, len(items))
	var who [][]any
	for _, it := range items {
		rows = append(rows, []any{it.CampaignID, it.GrantID, it.Person, it.Role, b2i(it.Birthright), strings.Join(it.Reviewers, ","),
			it.Decision, it.DecidedBy, ms(it.DecidedAt), it.Comment, it.Recommendation, ms(it.LastSignIn), b2i(it.Applied), it.Outcome})
		for _, r := range dedupe(it.Reviewers) {
			who = append(who, []any{r, it.CampaignID, it.GrantID})
		}
	}
	if err := t.insertRows(`INSERT INTO review_items (`+itemCols+`) VALUES `, rows, ""); err != nil {
		return err
	}
	return t.insertRows(`INSERT INTO review_reviewers (reviewer, campaign_id, grant_id) VALUES `, who, "")
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (t *tx) ReviewItem(campaignID, grantID string) (*ledger.ReviewItem, error) {
	row, err := t.queryRow(`SELECT `+itemCols+` FROM review_items WHERE campaign_id = ? AND grant_id = ?`, campaignID, grantID)
	if err != nil {
		return nil, err
	}
	return scanItem(row)
}

func (t *tx) UpdateReviewItem(it ledger.ReviewItem) error {
	if _, err := t.exec(`UPDATE review_items SET reviewers = ?, decision = ?, decided_by = ?, decided_at = ?, comment = ?,
		applied = ?, outcome = ? WHERE campaign_id = ? AND grant_id = ?`, strings.Join(it.Reviewers, ","), it.Decision, it.DecidedBy,
		ms(it.DecidedAt), it.Comment, b2i(it.Applied), it.Outcome, it.CampaignID, it.GrantID); err != nil {
		return err
	}
	for _, r := range dedupe(it.Reviewers) {
		if _, err := t.exec(`INSERT INTO review_reviewers (reviewer, campaign_id, grant_id) VALUES (?, ?, ?)
			ON CONFLICT (reviewer, campaign_id, grant_id) DO NOTHING`, r, it.CampaignID, it.GrantID); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) UnappliedItems(campaignID string, limit int) ([]ledger.ReviewItem, error) {
	rows, err := t.query(`SELECT `+itemCols+` FROM review_items WHERE campaign_id = ? AND applied = 0
		ORDER BY person, role, grant_id LIMIT ?`, campaignID, limit)
	if err != nil {
		return nil, err
	}
	return scanItems(rows)
}

func (t *tx) OpenItemsOf(campaignID, reviewer string) ([]ledger.ReviewItem, error) {
	q, args := itemQuery(ledger.ReviewItemFilter{CampaignID: campaignID, Reviewer: reviewer, Open: true})
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	return scanItems(rows)
}

func (t *tx) MarkApplied(campaignID string, outcomes map[string]string) error {
	by := map[string][]string{}
	for g, o := range outcomes {
		by[o] = append(by[o], g)
	}
	for o, ids := range by {
		slices.Sort(ids)
		if _, err := t.exec(`UPDATE review_items SET applied = 1, outcome = ? WHERE campaign_id = ? AND `+t.s.d.anyOf("grant_id"),
			o, campaignID, t.s.d.list(ids)); err != nil {
			return err
		}
	}
	return nil
}
