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

// A restored copy must never be defined on the original's storage: a disk left unrestored, or a network
// disk hotzfs cannot point at the restored zvol, is refused and named.
func TestRewriteForRestoreRefusesSharedStorage(t *testing.T) {
	xml := `<domain type="qemu"><name>db1</name><memory>262144</memory><os><type>hvm</type></os><devices>
<disk type="block" device="disk"><source dev="/dev/zvol/tank/vm/db1-disk0"/><target dev="vda"/></disk>
<disk type="block" device="disk"><source dev="/dev/zvol/tank/vm/db1-log"/><target dev="vdb"/></disk>
<disk type="network" device="disk"><source protocol="nbd" name="db1-data"><host name="storage1" port="10809"/></source><target dev="vdc"/></disk>
<disk type="file" device="disk"><source file="/srv/shared.img"/><target dev="vdd"/><shareable/></disk>
<disk type="file" device="cdrom"><target dev="sda"/><readonly/></disk>
</devices></domain>`
	_, err := RewriteForRestore(xml, "db1-restored", map[string]string{
		"/dev/zvol/tank/vm/db1-disk0": "/dev/zvol/tank/vm/db1-disk0-restore",
	})
	if err == nil {
		t.Fatal("defined a copy that shares the original's disks")
	}
	for _, want := range []string{"vdb (/dev/zvol/tank/vm/db1-log)", "vdc (network disk nbd:db1-data)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	for _, fine := range []string{"vda", "vdd", "sda"} {
		if strings.Contains(err.Error(), fine+" (") {
			t.Errorf("error names %s, which may stay: %v", fine, err)
		}
	}
}
