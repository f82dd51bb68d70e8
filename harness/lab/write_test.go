package lab

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestWriteYAMLReadsBackWithoutKeys(t *testing.T) {
	p, err := Resolve("", nil, map[string]string{"sut.pcscf": "127.0.0.2:5060", "sut.transport": "tcp", "ue.address": "127.0.0.1",
		"vcc_app.accept_from": "127.0.0.4", "hss.listen": "127.0.0.5:3868", "hss.icscf_peer": "icscf.lab.test", "hss.scscf_peer": "scscf.lab.test",
		"ue.access_network_info": `3GPP-UTRAN-TDD; "quoted"`, "timeouts.step": "1500ms", "subscriber.k": defaultK, "subscriber.opc": "cd63cb71954a9f4e48a5994e37a02baf"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.WriteYAML(&b, "written by a test\nsecond line"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, defaultK) || strings.Contains(out, "cd63cb71954a9f4e48a5994e37a02baf") || strings.Contains(out, "opc:") {
		t.Fatalf("WriteYAML wrote a key:\n%s", out)
	}
	if !strings.HasPrefix(out, "# written by a test\n# second line\n") {
		t.Errorf("header: %q", out[:40])
	}
	q, err := Parse("lab.yaml", b.Bytes())
	if err != nil {
		t.Fatalf("the written file does not load: %v\n%s", err, out)
	}
	// Everything but the keys comes back (the keys are the defaults again).
	p.Subscriber.K, p.Subscriber.OP, p.Subscriber.OPc = q.Subscriber.K, q.Subscriber.OP, q.Subscriber.OPc
	p.src, q.src = nil, nil
	if !reflect.DeepEqual(p, q) {
		t.Errorf("read back:\n got %+v\nwant %+v", q, p)
	}
}
