package hrsource

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The examples of the config doc comments decode strictly and validate.
func TestConfigExamples(t *testing.T) {
	t.Setenv("TILGANG_VISMA_PASSWORD", "pw")
	t.Setenv("TILGANG_FINT_TOKEN", "tok")
	tests := []struct {
		typ, yaml string
	}{
		{"stamdata3", `
type: stamdata3
municipality: "1547"`},
		{"visma-hrm", `
type: visma-hrm
base_url: https://hrm.aukra.kommune.no
auth: { type: basic, username: WS-AD, password_env: TILGANG_VISMA_PASSWORD }
company: "1"
municipality: "1547"
id_start: 1
id_end: 99999
page_size: 1000
days_future: 30`},
		{"fint", `
type: fint
base_url: https://api.felleskomponent.no
auth: { type: bearer, token_env: TILGANG_FINT_TOKEN }
municipality: "1547"`},
		{"json", `
type: json`},
		{"csv", `
type: csv
delimiter: ";"
date_format: "02.01.2006"
municipality: "1547"
columns:
  id: Ansattnr
  given_name: Fornavn
  family_name: Etternavn
  email: Epost
  municipality: Kommunenr
  employment_id: Stillingsnr
  org_unit: Enhet
  position: Stilling
  percent: Prosent
  primary: Hovedstilling
  manager: Leder
  start: Fra
  end: Til`},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			var head struct {
				Type string `yaml:"type"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(tt.yaml), &head))
			c, err := Types.New(head.Type)
			require.NoError(t, err)
			// the worker config will hold type next to the settings
			var doc map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tt.yaml), &doc))
			delete(doc, "type")
			b, err := yaml.Marshal(doc)
			require.NoError(t, err)
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if len(doc) > 0 {
				require.NoError(t, dec.Decode(c))
			}
			require.NoError(t, c.Validate())
			_, err = c.Open()
			require.NoError(t, err)
		})
	}
}
