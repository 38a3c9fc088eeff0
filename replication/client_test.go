package replication

import (
	"testing"

	"github.com/hotzfs/hotzfs/transport"
)

func TestQueueForBandwidth(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		bandwidth int64
		want      int
	}{
		{0, transport.DefaultQueue},         // unlimited: the default
		{100 << 10, transport.DefaultQueue}, // a slow link: never below the default
		{8 * mib, 32 * mib},                 // about 4 s of the link
		{1 << 30, 64 * mib},                 // bounded
	} {
		if got := queueFor(c.bandwidth); got != c.want {
			t.Errorf("queueFor(%d) = %d, want %d", c.bandwidth, got, c.want)
		}
	}
}
