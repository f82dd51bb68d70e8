package check

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// helperCase compares each helper the compiled engine reads values with
// against its straightforward form (the reference's, or the standard
// library's), on texts a and b; it returns what differs.
func helperCase(a, b string) []string {
	var diffs []string
	check := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s(%q, %q): %v, want %v", what, a, b, got, want))
		}
	}
	check("sameNumber", sameNumber(a, b), refSameNumber(a, b))
	check("sameHost", sameHost(a, b), refSameHost(a, b))
	check("sameText", sameText(field{text: a}, field{text: b}), refSameText(refField{text: a}, refField{text: b}))
	check("sameText quoted", sameText(field{text: a, quoted: true}, field{text: b}), refSameText(refField{text: a, quoted: true}, refField{text: b}))
	check("sameWords", sameWords(a, b), strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " "))
	check("sameTelDigits", sameTelDigits(a, b), telDigits(a) == telDigits(b))
	n, ok := uintOf(a)
	m, err := strconv.ParseUint(a, 10, 64)
	check("uintOf", ok, err == nil)
	if ok {
		check("uintOf", n, m)
	}
	x, ok := addrOf(a)
	y, err := netip.ParseAddr(a)
	check("addrOf", [2]any{x, ok}, [2]any{y, err == nil})
	s1, s2, ok := twoFields(a)
	f := strings.Fields(a)
	if len(f) == 2 {
		check("twoFields", [3]any{s1, s2, ok}, [3]any{f[0], f[1], true})
	} else {
		check("twoFields", ok, false)
	}
	u, q := unquote(a)
	ru, rq := refUnquote(a)
	check("unquote", [2]any{u, q}, [2]any{ru, rq})
	check("rfc1123", fmt.Sprint(rfc1123(a)), fmt.Sprint(refRfc1123(a)))
	if host, port, ok := strings.Cut(b, ":"); ok && port != "" && strings.Contains(a, host+":"+port) {
		check("hostPort", hostPort(a, host, port), host+":"+port) // (sipmsg.URI).HostPort, Via.SentBy
	}
	res := helperRegexps()
	for src, m := range matchers {
		check("matcher "+src, m(a), res[src].MatchString(a))
	}
	for _, src := range []string{`^z9hG4bK.+`, `^ab1.+`} {
		re := res[src]
		check("matcher "+src, matcherFor(re)(a), re.MatchString(a))
	}
	return diffs
}

// helperRegexps are the regexps the matchers stand for, compiled once.
var helperRegexps = sync.OnceValue(func() map[string]*regexp.Regexp {
	res := map[string]*regexp.Regexp{}
	for src := range matchers {
		res[src] = regexp.MustCompile(src)
	}
	for _, src := range []string{`^z9hG4bK.+`, `^ab1.+`} {
		res[src] = regexp.MustCompile(src)
	}
	return res
})

var helperTexts = []string{"", "0", "0068", "68", " 68 ", "18446744073709551615", "18446744073709551616", "000000000000000000000068",
	"1.2.3.4", "[::1]", "::1", "::ffff:1.2.3.4", "fe80::1%eth0", "home1.net", "HOME1.NET.", "1.2.3", "1..2", "%",
	"Wed, 11 Jul 2001 08:49:37 GMT", "Thu, 11 Jul 2001 08:49:37 GMT", "Wed, 11 Jul 2001 08:49:37 UTC",
	"Wed, 11 Jul 2001 08:49:37 GMT GMT", "Wed, 11 Jul 2001 08:49:37 GMT+1 GMT", "Wed, 11 Jul 2001 8:49:37 GMT",
	`"a\"b"`, `"ab"`, `"`, "2 REGISTER", " 2  REGISTER ", "2\u00a0REGISTER", "2 REGISTER x", "a\tb", "a \v b",
	"z9hG4bK", "z9hG4bKx", "z9hG4bK\nx", "z9hG4bK\xff", "0.5", "1.000", "1.001", "0.", "0.1234", "\xff",
	"+1-212-555-1111", "+1(212)5551111", "+1-212-555-111%31", "[::1]:5060", "h.net:5060", "6629fae49393a05397450978507c4ef1",
}

// TestHelpersAgree: the value helpers agree with their straightforward
// forms on every pair of the texts above.
func TestHelpersAgree(t *testing.T) {
	for _, a := range helperTexts {
		for _, b := range helperTexts {
			for _, d := range helperCase(a, b) {
				t.Error(d)
			}
		}
	}
}

func FuzzHelpersAgree(f *testing.F) {
	for i, a := range helperTexts {
		f.Add(a, helperTexts[(i+7)%len(helperTexts)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, d := range helperCase(a, b) {
			t.Error(d)
		}
	})
}
