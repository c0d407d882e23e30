package federation

import (
	"strings"
	"testing"
)

// The fuzz targets feed the parsers what a hostile or broken server could
// send. Each checks only cheap invariants so that a 10 s run explores
// many inputs: no panic, and what a parser accepts is consistent.

// maxFuzzInput keeps the fuzzer on inputs a 10 s run can explore: the
// instrumented encoding/xml needs about a second for a document near
// MaxDocumentSize.
const maxFuzzInput = 16 << 10

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`<a/>`))
	f.Add([]byte(``))
}

func FuzzParseMEX(f *testing.F) {
	addSeeds(f, "mex_adfs.xml", "mex_2005_only.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // size limits have their own tests; keep runs fast
		}
		eps, err := ParseMEX(data)
		if err != nil {
			return
		}
		for _, ep := range []Endpoint{eps.UsernameMixed, eps.WindowsTransport} {
			if !ep.IsZero() && (!isHTTPS(ep.URL) || (ep.Version != Trust13 && ep.Version != Trust2005)) {
				t.Fatalf("accepted endpoint %+v", ep)
			}
		}
	})
}

func FuzzParseRSTR(f *testing.F) {
	addSeeds(f, "rstr_13.xml", "rstr_2005.xml", "rstr_13_saml2.xml", "fault_13.xml", "fault_soap11.xml", "rstr_ancestor_ns.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // size limits have their own tests; keep runs fast
		}
		a, err := ParseRSTR(data)
		if err != nil {
			return
		}
		raw := a.XML.Reveal()
		if !strings.Contains(string(data), raw) || a.GrantType() == "" {
			t.Fatalf("accepted assertion %q (%v) not from the input", raw, a.Version)
		}
		if _, err := ParseSAML([]byte(raw)); err != nil {
			t.Fatalf("accepted assertion does not parse alone: %v", err)
		}
	})
}

func FuzzParseSAML(f *testing.F) {
	addSeeds(f, "saml_11.xml", "saml_20.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // size limits have their own tests; keep runs fast
		}
		info, err := ParseSAML(data)
		if err != nil {
			return
		}
		if info.Version.GrantType() == "" || info.ID == "" || len(info.Audiences) > 16 {
			t.Fatalf("accepted %+v", info)
		}
	})
}
