package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// BenchmarkApply measures the engine and the ledger alone: signed grant
// requests, decoded and verified beforehand, applied in transactions of
// 256 messages as the intake does (Prefetch, Apply each, Commit). ns/op is
// per message:
//
//	go test -run '^$' -bench Apply ./internal/bench
func BenchmarkApply(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var (
				l   ledger.Ledger
				err error
			)
			if backend == "postgres" {
				l, err = sqlledger.OpenPostgres(ctx, pgtest.Schema(b), 4)
			} else {
				l, err = sqlledger.OpenSQLite(ctx, filepath.Join(dir, "ledger.db"))
			}
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			eng, people, requests := applySetup(b, dir, b.N)
			applyAll(b, l, eng, people)
			b.ResetTimer()
			applyAll(b, l, eng, requests)
			b.StopTimer()
			st, err := l.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if st.Requests != int64(2*b.N) { // the joiners too
				b.Fatalf("%d requests recorded, want %d", st.Requests, 2*b.N)
			}
		})
	}
}

func applySetup(b testing.TB, dir string, n int) (*engine.Engine, []engine.Input, []engine.Input) {
	ps, err := principals.EnsureDev(dir)
	if err != nil {
		b.Fatal(err)
	}
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	if err != nil {
		b.Fatal(err)
	}
	polDir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(polDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(polDir, "kasse.yaml"), []byte(Catalogue), 0o644); err != nil {
		b.Fatal(err)
	}
	cat, err := policy.Load(polDir, []string{"noop"})
	if err != nil {
		b.Fatal(err)
	}
	eng := engine.New(cat, ps, nil, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pm, rm, err := messages(&client.Sender{Key: key, Via: principals.DevID, Source: "bench"}, n)
	if err != nil {
		b.Fatal(err)
	}
	var people, requests []engine.Input
	for i := range pm {
		for _, x := range []struct {
			data []byte
			subj string
			out  *[]engine.Input
			seq  uint64
		}{{pm[i].Data, pm[i].Subject, &people, uint64(i + 1)}, {rm[i].Data, rm[i].Subject, &requests, uint64(n + i + 1)}} {
			in := engine.Decode(x.subj, x.data, x.seq)
			eng.Check(&in)
			*x.out = append(*x.out, in)
		}
	}
	return eng, people, requests
}

func applyAll(b testing.TB, l ledger.Ledger, eng *engine.Engine, ins []engine.Input) {
	ctx := context.Background()
	for len(ins) > 0 {
		batch := ins[:min(256, len(ins))]
		ins = ins[len(batch):]
		tx, err := l.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := eng.Prefetch(tx, batch); err != nil {
			b.Fatal(err)
		}
		for _, in := range batch {
			if out, err := eng.Apply(tx, in); err != nil || out != engine.Accepted {
				b.Fatal(fmt.Sprint(out), err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeVerify is what every message costs before the ledger:
// decoding the envelope and checking its Ed25519 signature. On a machine
// whose cores also run JetStream it bounds the pipeline's rate:
//
//	go test -run '^$' -bench DecodeVerify ./internal/bench
func BenchmarkDecodeVerify(b *testing.B) {
	eng, _, requests := applySetup(b, b.TempDir(), 1)
	raw, subject := requests[0].Raw, requests[0].Subject
	for b.Loop() {
		in := engine.Decode(subject, raw, 1)
		eng.Check(&in)
		if in.Env == nil {
			b.Fatal(in.DecodeErr)
		}
	}
}
