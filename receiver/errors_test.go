package receiver

import "testing"

// Another client's root that begins with this client's root is not rewritten into a half-name.
func TestReplaceNameOnlyWholeNames(t *testing.T) {
	got := replaceName("busy: pool/backup/hv10/x and pool/backup/hv1, pool/backup/hv1.", "pool/backup/hv1", "the client's root")
	want := "busy: pool/backup/hv10/x and the client's root, the client's root."
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
