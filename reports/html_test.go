package reports

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func renderHTML(t *testing.T, r *Run) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return buf.String()
}

// tag is one start or end tag of the markup.
type tag struct {
	name  string
	attrs map[string]string
}

// scanTags finds every tag in markup the way an HTML tokenizer does outside
// raw-text elements: a tag starts at "<" followed by a letter or "/", and its
// attributes run to the next ">" outside quotes. Escaped text (&lt;) holds
// no "<", so every tag found is real markup.
func scanTags(markup string) []tag {
	var tags []tag
	for i := 0; i < len(markup); i++ {
		if markup[i] != '<' || i+1 >= len(markup) {
			continue
		}
		j := i + 1
		if markup[j] == '/' {
			j++
		}
		if j >= len(markup) || !(markup[j] >= 'a' && markup[j] <= 'z' || markup[j] >= 'A' && markup[j] <= 'Z') {
			continue
		}
		k := j
		for k < len(markup) && !strings.ContainsRune(" \t\n\r/>", rune(markup[k])) {
			k++
		}
		tg := tag{name: strings.ToLower(markup[i+1 : k]), attrs: map[string]string{}}
		for k < len(markup) && markup[k] != '>' {
			for k < len(markup) && strings.ContainsRune(" \t\n\r/", rune(markup[k])) {
				k++
			}
			a := k
			for k < len(markup) && !strings.ContainsRune(" \t\n\r/>=", rune(markup[k])) {
				k++
			}
			name := strings.ToLower(markup[a:k])
			val := ""
			if k < len(markup) && markup[k] == '=' {
				k++
				if k < len(markup) && (markup[k] == '"' || markup[k] == '\'') {
					q := markup[k]
					e := strings.IndexByte(markup[k+1:], q)
					if e < 0 {
						e = len(markup) - k - 1
					}
					val = markup[k+1 : k+1+e]
					k += e + 2
				} else {
					a := k
					for k < len(markup) && !strings.ContainsRune(" \t\n\r>", rune(markup[k])) {
						k++
					}
					val = markup[a:k]
				}
			}
			if name != "" {
				tg.attrs[name] = val
			}
		}
		tags = append(tags, tg)
		i = k
	}
	return tags
}

// assertNoActiveContent fails when markup holds a script, an event handler,
// an element that loads something, or a javascript: URL.
func assertNoActiveContent(t *testing.T, markup string) {
	t.Helper()
	for _, tg := range scanTags(markup) {
		switch tg.name {
		case "script", "img", "iframe", "object", "embed", "link", "image", "foreignobject", "base", "form", "video", "audio", "source":
			t.Errorf("markup: expected no <%s> element, found one with attributes %v", tg.name, tg.attrs)
		}
		for a, v := range tg.attrs {
			if strings.HasPrefix(a, "on") {
				t.Errorf("markup: expected no event handler attribute, found %s=%q on <%s>", a, v, tg.name)
			}
			if a == "src" || a == "srcset" || a == "xlink:href" {
				t.Errorf("markup: expected no %s attribute, found %s=%q on <%s>", a, a, v, tg.name)
			}
			if a == "href" && !strings.HasPrefix(v, "#") {
				t.Errorf("markup: expected only in-page links, found href=%q on <%s>", v, tg.name)
			}
		}
	}
	if strings.Contains(strings.ToLower(markup), "javascript:") {
		t.Error("markup: expected no javascript: anywhere, found one")
	}
}

func TestWriteHTMLEscapesSUTValues(t *testing.T) {
	out := renderHTML(t, sampleRun())
	assertNoActiveContent(t, out)
	if n := strings.Count(strings.ToLower(out), "<script"); n != 0 {
		t.Errorf("markup: expected no <script, found %d", n)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",                  // hostile header value, as text
		"&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",            // attribute breakout attempt, as text
		"Security-Server: &lt;script&gt;alert(1)&lt;/script&gt;", // in the raw 401
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markup: expected the escaped text %q, not found", want)
		}
	}
	// An onerror= that is not inside escaped text would be an attribute;
	// every occurrence must sit in text that follows an escaped "&lt;img".
	for _, m := range regexp.MustCompile(`(?i)[^ ]*\s*onerror=`).FindAllStringIndex(out, -1) {
		before := out[max(0, m[0]-30):m[0]]
		if !strings.Contains(before, "&lt;img") {
			t.Errorf("markup: onerror= outside escaped text near %q", out[max(0, m[0]-60):min(len(out), m[1]+20)])
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("markup: expected the ESC in a reason to be shown as \\x1b, found the raw control character")
	}
	if !strings.Contains(out, `\x1b[31mnothing to answer`) {
		t.Error("markup: expected the ESC in a reason to be shown as \\x1b, not found")
	}
}

func TestWriteHTMLHostileEverywhere(t *testing.T) {
	// Every string field of a run set to hostile text, including those the
	// harness normally writes, so that no field can slip through unescaped.
	h := hostile1 + hostile2 + "</title></style></svg>javascript:alert(1)"
	r := sampleRun()
	r.Tool, r.Profile, r.Target, r.Errors = h, h, h, []string{h}
	r.Lab.HomeDomain, r.Lab.Subscriber.IMPI, r.Lab.UE.AccessNetworkInfo = h, h, h
	for i := range r.Results {
		res := &r.Results[i]
		res.RuleID, res.Table, res.Step, res.Citation, res.Statement = h, h, h, h, h
		res.Expected, res.Observed, res.Reason = h, h, h
	}
	for i := range r.Tables {
		tb := &r.Tables[i]
		tb.ID, tb.Title, tb.From, tb.To, tb.Example = h, h, h, h, h
	}
	for i := range r.Trace {
		m := &r.Trace[i]
		m.Role, m.Note, m.Transport = h, h, h
		m.Raw = []byte("SIP/2.0 200 " + h + "\r\n\r\n")
	}
	r.Steps[h] = 1
	out := renderHTML(t, r)
	// javascript: appears only as escaped text; drop it before the scan.
	assertNoActiveContent(t, strings.ReplaceAll(out, "javascript:alert(1)", "js-text"))
	if strings.Count(strings.ToLower(out), "<script") != 0 {
		t.Error("markup: expected no <script, found one")
	}
	if !strings.Contains(out, "&lt;/title&gt;&lt;/style&gt;&lt;/svg&gt;") {
		t.Error("markup: expected closing tags in values escaped as text, not found")
	}
}

func TestWriteHTMLContent(t *testing.T) {
	r := sampleRun()
	out := renderHTML(t, r)
	for _, want := range []string{
		// summary
		`<span class="badge big v-error" id="overall">error</span>`,
		"embedded reference core (P-CSCF [::1]:40123)", "a322", "2026-03-04 10:20:29.950 UTC", "(2.55s)",
		"<b>3</b><span class=\"badge v-pass\">pass</span>", "<b>3</b><span class=\"badge v-fail\">fail</span>",
		"<b>1</b><span class=\"badge v-inconc\">inconc</span>",
		// ladder lanes and labels
		">UE</text>", ">SUT</text>", ">VCC App</text>",
		">REGISTER sip:registrar.home1.net SIP/2.0</text>", ">SIP/2.0 401 Unauthorized</text>",
		">A.3.2.2-5</text>", ">A.3.2.2-10, A.3.2.2-14</text>",
		"unparseable datagram (16 bytes)", `<g class="bad">`,
		`<g class="missing">`, "step 11 · A.3.2.2-11 REGISTER to the VCC Application",
		`<a href="#msg-2">`,
		// tables
		`id="table-2"`, "A.3.2.2-5 — 401 Unauthorized", "algorithm is AKAv1-MD5",
		"Table A.3.2.2-5; TS 24.229 5.4.1.2.1", "WWW-Authenticate/algorithm",
		"<th>field</th><th>statement</th><th>expected</th><th>observed</th><th>verdict</th><th>reason</th><th>citation</th>",
		"not received within 2 s", "not received</b>",
		// messages
		`id="msg-1"`, `id="msg-5"`, "step 10 (A.3.2.2-10 200 OK), step 14 (A.3.2.2-14 200 OK)",
		"00000000  de ad be ef 00 ff 3c 73  63 72 69 70 74 3e 80 81  |......&lt;script&gt;..|",
		"does not parse as SIP: no start line",
		// lab, redacted
		"user1_private@home1.net", "[redacted] / — / [redacted]",
		// self-contained
		"Content-Security-Policy", "default-src 'none'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML report: expected %q, not found", want)
		}
	}
	// Each arrow links to a message anchor that exists.
	for _, m := range r.Trace {
		if !strings.Contains(out, fmt.Sprintf(`<a href="#msg-%d">`, m.Seq)) || !strings.Contains(out, fmt.Sprintf(`id="msg-%d"`, m.Seq)) {
			t.Errorf("HTML report: expected a link to and an anchor for message %d", m.Seq)
		}
	}
	for _, s := range []string{secretK, secretOPc} {
		if strings.Contains(out, s) {
			t.Errorf("HTML report contains the secret %s", s)
		}
	}
	if n := strings.Count(out, "http://") + strings.Count(out, "https://"); n != 1 || !strings.Contains(out, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("HTML report: expected no URL but the SVG namespace, found %d", n)
	}
}

func TestScanTagsFindsInjectedMarkup(t *testing.T) {
	tags := scanTags(`<p class="x">&lt;img src=x onerror=alert(1)&gt;</p>"><img src=x onerror=alert(1)><a href='#m'>`)
	var got []string
	for _, tg := range tags {
		got = append(got, tg.name)
	}
	if strings.Join(got, ",") != "p,/p,img,a" {
		t.Fatalf("scanTags: expected p,/p,img,a, got %v", got)
	}
	if _, ok := tags[2].attrs["onerror"]; !ok || tags[2].attrs["src"] != "x" {
		t.Errorf("scanTags: expected the injected <img> with src and onerror, got %v", tags[2].attrs)
	}
	if tags[3].attrs["href"] != "#m" {
		t.Errorf("scanTags: expected href=#m, got %v", tags[3].attrs)
	}
}
