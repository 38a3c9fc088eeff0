package guest

import (
	"strings"
	"testing"
)

func TestRewriteForRestore(t *testing.T) {
	xml := `<domain type="qemu"><name>web1</name><uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>
<memory>262144</memory><os><type>hvm</type></os><devices>
<disk type="block" device="disk"><source dev="/dev/zvol/tank/vm/web1-disk0"/><target dev="vda"/></disk>
<disk type="file" device="disk"><source file="/tank/images/web1/data.qcow2"/><target dev="vdb"/></disk>
<disk type="file" device="cdrom"><source file="/iso/debian.iso"/><target dev="sda"/></disk>
<interface type="network"><mac address="52:54:00:aa:bb:cc"/><source network="default"/></interface>
</devices></domain>`
	out, err := RewriteForRestore(xml, "web1-restored", map[string]string{
		"/dev/zvol/tank/vm/web1-disk0": "/dev/zvol/tank/vm/web1-disk0-restore",
		"/tank/images/web1":            "/tank/images/web1-restore",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<name>web1-restored</name>", `dev="/dev/zvol/tank/vm/web1-disk0-restore"`,
		`file="/tank/images/web1-restore/data.qcow2"`, `file="/iso/debian.iso"`} {
		if !strings.Contains(out, want) {
			t.Errorf("rewritten XML lacks %s:\n%s", want, out)
		}
	}
	for _, gone := range []string{"3e3fce45", "52:54:00:aa:bb:cc"} {
		if strings.Contains(out, gone) {
			t.Errorf("rewritten XML still has %s", gone)
		}
	}
	if _, err := RewriteForRestore("<domain", "x", nil); err == nil {
		t.Error("broken XML accepted")
	}
}
