package guest

import (
	"slices"
	"testing"
)

func TestDiskSources(t *testing.T) {
	got, err := DiskSources(dumpedXML)
	if want := []string{"/dev/zvol/tank/vm/web1-disk0", "/tank/images/web1/data.qcow2"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("DiskSources = %q, %v; want the disks' paths, not the cdrom's", got, err)
	}
	if _, err := DiskSources("<domain"); err == nil {
		t.Error("broken XML: no error")
	}
}
