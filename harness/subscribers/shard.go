package subscribers

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is the i-th of n slices of a population (0 ≤ Index < Of): a load
// run spread over n processes or machines, each running its own slice.
type Shard struct {
	Index, Of int
}

// Whole is the shard of a run that is not split.
var Whole = Shard{Index: 0, Of: 1}

// ParseShard reads "i/n" (0 ≤ i < n), as --shard takes it and as a
// Kubernetes Indexed Job gives i in JOB_COMPLETION_INDEX.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("expected a shard i/n such as 0/4, saw %q", s)
	}
	sh := Shard{Index: i, Of: n}
	return sh, sh.Check()
}

// Check reports whether the shard is one of its run's.
func (sh Shard) Check() error {
	if sh.Of < 1 || sh.Index < 0 || sh.Index >= sh.Of {
		return fmt.Errorf("expected a shard i/n with 0 ≤ i < n, saw %d/%d", sh.Index, sh.Of)
	}
	return nil
}

func (sh Shard) String() string { return strconv.Itoa(sh.Index) + "/" + strconv.Itoa(sh.Of) }

// Slice returns the subscribers of the shard out of n: indexes lo ≤ i < hi,
// contiguous, the n slices as even as can be and together all of them,
// each exactly once.
func (sh Shard) Slice(n int) (lo, hi int) {
	if sh.Of < 1 {
		return 0, n
	}
	return n * sh.Index / sh.Of, n * (sh.Index + 1) / sh.Of
}
