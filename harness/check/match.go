package check

import (
	"regexp"
	"strings"
)

// A rule's regular expression is matched by regexp, except for the shapes
// the scenario writes most (a branch's magic cookie, a token, a number, a
// digest response), which a plain function matches as regexp would: what
// matchers says of every text is what regexp.MatchString says of it
// (FuzzMatchersAgree).

// matcherFor is a function that matches exactly what re matches, or
// re.MatchString.
func matcherFor(re *regexp.Regexp) func(string) bool {
	src := re.String()
	if m, ok := matchers[src]; ok {
		return m
	}
	if lit, ok := strings.CutPrefix(src, "^"); ok {
		if lit, ok = strings.CutSuffix(lit, ".+"); ok && lit != "" && alnum(lit) {
			// ^LITERAL.+: the literal, then a character that is not a
			// newline ('.' does not match one)
			return func(s string) bool { return strings.HasPrefix(s, lit) && len(s) > len(lit) && s[len(lit)] != '\n' }
		}
	}
	return re.MatchString
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// reSpace is \s of RE2 syntax: \t, \n, \f, \r and space (not \v).
func reSpace(c byte) bool { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ' }

var matchers = map[string]func(string) bool{
	// some character that is not white space (any byte of a non-ASCII
	// rune, or of invalid UTF-8, is part of one)
	`\S`: func(s string) bool {
		for i := 0; i < len(s); i++ {
			if !reSpace(s[i]) {
				return true
			}
		}
		return false
	},
	// a token: one or more characters, none white space
	`^\S+$`: func(s string) bool {
		for i := 0; i < len(s); i++ {
			if reSpace(s[i]) {
				return false
			}
		}
		return s != ""
	},
	`^[0-9]{1,10}$`: func(s string) bool { return len(s) >= 1 && len(s) <= 10 && strings.TrimLeft(s, "0123456789") == "" },
	`^[0-9a-f]{32}$`: func(s string) bool {
		return len(s) == 32 && strings.TrimLeft(s, "0123456789abcdef") == ""
	},
	// a qvalue (RFC 3261 25.1)
	`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`: func(s string) bool {
		if s == "0" || s == "1" {
			return true
		}
		if len(s) < 2 || len(s) > 5 || s[1] != '.' {
			return false
		}
		switch s[0] {
		case '0':
			return strings.TrimLeft(s[2:], "0123456789") == ""
		case '1':
			return strings.TrimLeft(s[2:], "0") == ""
		}
		return false
	},
}
