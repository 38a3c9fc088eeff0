package guest

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// A guest as `virsh dumpxml` shows it on a Debian host: a zvol and a qcow2 image on a filesystem dataset, a
// cdrom, the agent channel, a NIC, graphics and the devices libvirt adds by itself.
const dumpedXML = `<domain type='kvm' id='3'>
  <name>web1</name>
  <uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>
  <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo></metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <resource><partition>/machine</partition></resource>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native' discard='unmap'/>
      <source dev='/dev/zvol/tank/vm/web1-disk0' index='2'/>
      <backingStore/>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/tank/images/web1/data.qcow2' index='1'/>
      <backingStore/>
      <target dev='vdb' bus='virtio'/>
      <serial>DATA01</serial>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/iso/debian-12.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci' ports='15'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/><target chassis='1' port='0x10'/></controller>
    <controller type='pci' index='2' model='pcie-root-port'><model name='pcie-root-port'/><target chassis='2' port='0x11'/></controller>
    <controller type='sata' index='0'/>
    <controller type='virtio-serial' index='0'/>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='default' portid='8a1f' bridge='virbr0'/>
      <target dev='vnet2'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><source path='/dev/pts/3'/><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/><target type='serial' port='0'/></console>
    <channel type='unix'>
      <source mode='bind' path='/run/libvirt/qemu/channel/3-web1/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
    </channel>
    <input type='tablet' bus='usb'/><input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>
    <video><model type='virtio' heads='1' primary='yes'/></video>
    <memballoon model='virtio'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
  <seclabel type='dynamic' model='apparmor' relabel='yes'><label>libvirt-3e3fce45</label></seclabel>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+64055</label></seclabel>
</domain>`

var webSpec = BuildSpec{Name: "web1", Volumes: map[string]string{
	"/dev/zvol/tank/vm/web1-disk0": "/dev/zvol/backup/hv1/tank/vm/web1-disk0-failover"},
	Filesystems: map[string]string{"/tank/images/web1": "/backup/hv1/tank/images/web1-failover"}}

func parseBuilt(t *testing.T, out string) libvirtxml.Domain {
	t.Helper()
	var d libvirtxml.Domain
	if err := d.Unmarshal(out); err != nil {
		t.Fatalf("built XML does not parse: %v\n%s", err, out)
	}
	return d
}

func TestBuildDomainKeepsTheGuest(t *testing.T) {
	b, err := BuildDomain(dumpedXML, webSpec)
	if err != nil {
		t.Fatal(err)
	}
	d := parseBuilt(t, b.XML)
	if d.Name != "web1" || d.UUID != "" || d.Type != "kvm" {
		t.Errorf("name %q uuid %q type %q, want web1, none, kvm", d.Name, d.UUID, d.Type)
	}
	if d.Memory == nil || d.Memory.Value != 2097152 || d.Memory.Unit != "KiB" || d.CurrentMemory == nil ||
		d.CurrentMemory.Value != 1048576 || d.VCPU == nil || d.VCPU.Value != 2 {
		t.Errorf("memory %+v current %+v vcpu %+v", d.Memory, d.CurrentMemory, d.VCPU)
	}
	if d.OS.Type.Machine != "pc-q35-7.2" || d.OS.Type.Arch != "x86_64" || len(d.OS.BootDevices) != 1 ||
		d.CPU.Mode != "host-passthrough" || d.Features.ACPI == nil || d.Features.APIC == nil || d.Clock.Offset != "utc" {
		t.Errorf("os %+v cpu %+v features %+v clock %+v", d.OS.Type, d.CPU, d.Features, d.Clock)
	}
	disks := d.Devices.Disks
	if len(disks) != 2 {
		t.Fatalf("%d disks, want the zvol and the image:\n%s", len(disks), b.XML)
	}
	if s := disks[0].Source.Block; s == nil || s.Dev != "/dev/zvol/backup/hv1/tank/vm/web1-disk0-failover" ||
		disks[0].Driver.Type != "raw" || disks[0].Driver.Cache != "none" || disks[0].Target.Dev != "vda" || disks[0].Target.Bus != "virtio" {
		t.Errorf("zvol disk %+v %+v %+v", disks[0].Source, disks[0].Driver, disks[0].Target)
	}
	if s := disks[1].Source.File; s == nil || s.File != "/backup/hv1/tank/images/web1-failover/data.qcow2" ||
		disks[1].Driver.Type != "qcow2" || disks[1].Target.Dev != "vdb" || disks[1].Serial != "DATA01" {
		t.Errorf("image disk %+v %+v %+v", disks[1].Source, disks[1].Driver, disks[1].Target)
	}
	if n := strings.Count(b.XML, "<backingStore></backingStore>"); n != 2 || strings.Contains(b.XML, "address") {
		t.Errorf("%d empty backing stores, want 2 (qemu must not follow an image's backing file), and no "+
			"device addresses:\n%s", n, b.XML)
	}
	want := []BuiltDisk{{"vda", "/dev/zvol/backup/hv1/tank/vm/web1-disk0-failover", "", "raw"},
		{"vdb", "/backup/hv1/tank/images/web1-failover/data.qcow2", "/backup/hv1/tank/images/web1-failover", "qcow2"}}
	if !slices.Equal(b.Disks, want) {
		t.Errorf("disks %+v, want %+v", b.Disks, want)
	}
	ch := d.Devices.Channels
	if len(ch) != 1 || ch[0].Source.UNIX == nil || ch[0].Source.UNIX.Path != "" || ch[0].Target.VirtIO.Name != AgentChannel {
		t.Errorf("channels %+v, want the agent's with no path", ch)
	}
	if len(d.Devices.Serials) != 1 || len(d.Devices.Consoles) != 1 {
		t.Errorf("serials %+v consoles %+v, want one pty each", d.Devices.Serials, d.Devices.Consoles)
	}
	if len(d.Devices.Interfaces) != 0 || d.Devices.Emulator != "" || len(d.SecLabel) != 0 {
		t.Errorf("interfaces %+v, emulator %q, seclabels %+v: want none without --network", d.Devices.Interfaces,
			d.Devices.Emulator, d.SecLabel)
	}
	report := strings.Join(b.Dropped, "\n")
	for _, w := range []string{"seclabel", "emulator", "/usr/bin/qemu-system-x86_64", "sda (/iso/debian-12.iso): cdrom",
		"interface", "no --network", "graphics", "metadata", "resource", "devices/controller", "pcie-root-port ×2", "rng"} {
		if !strings.Contains(report, w) {
			t.Errorf("report does not name %q:\n%s", w, report)
		}
	}
	for _, kept := range []string{"vda", "vdb (", "devices/channel:", "devices/serial", "memory"} {
		if strings.Contains(report, kept) {
			t.Errorf("report names %q, which was kept:\n%s", kept, report)
		}
	}
}

func TestBuildDomainNetworkOnlyWhereNamed(t *testing.T) {
	spec := webSpec
	spec.Network = "failover-lan"
	b, err := BuildDomain(dumpedXML, spec)
	if err != nil {
		t.Fatal(err)
	}
	ifs := parseBuilt(t, b.XML).Devices.Interfaces
	if len(ifs) != 1 || ifs[0].Source.Network == nil || ifs[0].Source.Network.Network != "failover-lan" ||
		ifs[0].Source.Network.Bridge != "" || ifs[0].MAC != nil || ifs[0].Model.Type != "virtio" {
		t.Fatalf("interfaces %+v, want one virtio on failover-lan with no MAC", ifs)
	}
	if !strings.Contains(strings.Join(b.Dropped, "\n"), "replaced by one on network failover-lan") {
		t.Errorf("report %q does not say the stored interface was replaced", b.Dropped)
	}
}

// hostileBase is a guest with one disk on the copy; each case adds to it.
func hostileXML(top, devices, osExtra string) string {
	return `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>web1</name>
<memory>262144</memory><os><type>hvm</type>` + osExtra + `</os>` + top + `<devices>
<disk type='block' device='disk'><source dev='/dev/zvol/tank/vm/web1-disk0'/><target dev='vda' bus='virtio'/></disk>
` + devices + `</devices></domain>`
}

func TestBuildDomainDropsHostileXML(t *testing.T) {
	cases := []struct {
		name, top, devices, os string
		absent                 []string // in the built XML
		reported               string   // in the report
	}{
		{name: "seclabel none", top: `<seclabel type='none'/>`, absent: []string{"seclabel"}, reported: "seclabel: type=none"},
		{name: "custom emulator", devices: `<emulator>/tmp/evil-qemu</emulator>`, absent: []string{"evil-qemu", "emulator"},
			reported: "devices/emulator: /tmp/evil-qemu"},
		{name: "host disk /dev/sda", devices: `<disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vdb'/></disk>`,
			absent: []string{"/dev/sda", "vdb"}, reported: "vdb (/dev/sda): not on a restored dataset"},
		{name: "read-only /etc/shadow", devices: `<disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdc'/><readonly/></disk>`,
			absent: []string{"shadow", "readonly"}, reported: "vdc (/etc/shadow)"},
		{name: "another client's zvol, shareable", devices: `<disk type='block' device='disk'><source dev='/dev/zvol/backup/hv2/tank/vm/db1'/><target dev='vdd'/><shareable/></disk>`,
			absent: []string{"hv2", "shareable"}, reported: "vdd (/dev/zvol/backup/hv2/tank/vm/db1)"},
		{name: "cdrom", devices: `<disk type='file' device='cdrom'><source file='/etc/passwd'/><target dev='sda' bus='sata'/><readonly/></disk>`,
			absent: []string{"/etc/passwd", "cdrom"}, reported: "sda (/etc/passwd): cdrom not kept"},
		{name: "floppy", devices: `<disk type='block' device='floppy'><source dev='/dev/sdb'/><target dev='fda'/></disk>`,
			absent: []string{"/dev/sdb", "floppy"}, reported: "floppy not kept"},
		{name: "filesystem passthrough of /", devices: `<filesystem type='mount' accessmode='passthrough'><source dir='/'/><target dir='hostroot'/></filesystem>`,
			absent: []string{"filesystem", "hostroot"}, reported: "devices/filesystem: type=mount source dir=/"},
		{name: "hostdev", devices: `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>`,
			absent: []string{"hostdev"}, reported: "devices/hostdev"},
		{name: "qemu:commandline", top: `<qemu:commandline><qemu:arg value='-drive'/><qemu:arg value='file=/dev/sda,if=virtio'/></qemu:commandline>`,
			absent: []string{"commandline", "/dev/sda"}, reported: "<commandline> (namespace http://libvirt.org/schemas/domain/qemu/1.0)"},
		{name: "loader and nvram paths", os: `<loader readonly='no' type='pflash'>/dev/sda</loader><nvram>/etc/shadow</nvram>`,
			absent: []string{"/dev/sda", "shadow", "loader", "nvram"}, reported: "os/loader: type=pflash /dev/sda"},
		{name: "kernel and initrd", os: `<kernel>/etc/shadow</kernel><initrd>/root/.ssh/id_ed25519</initrd><cmdline>init=/bin/sh</cmdline>`,
			absent: []string{"shadow", "id_ed25519", "init=/bin/sh"}, reported: "os/kernel /etc/shadow is not on a restored dataset"},
		{name: "kernel on the copy, initrd a host file", os: `<kernel>/tank/images/web1/vmlinuz</kernel><initrd>/etc/shadow</initrd><cmdline>quiet</cmdline>`,
			absent: []string{"shadow", "vmlinuz", "quiet"}, reported: "os/initrd /etc/shadow is not on a restored dataset"},
		{name: "kernel climbing out of the copy", os: `<kernel>/tank/images/web1/../../../boot/vmlinuz</kernel>`,
			absent: []string{"vmlinuz"}, reported: "not on a restored dataset"},
		{name: "kernel on a zvol device", os: `<kernel>/dev/zvol/tank/vm/web1-disk0</kernel>`,
			absent: []string{"<kernel>"}, reported: "os/kernel /dev/zvol/tank/vm/web1-disk0 is not on a restored dataset"},
		{name: "cmdline with a newline", os: "<kernel>/tank/images/web1/vmlinuz</kernel><cmdline>quiet\ninit=/bin/sh</cmdline>",
			absent: []string{"vmlinuz", "init=/bin/sh"}, reported: "cmdline longer than 4096 bytes or with control characters"},
		{name: "agent channel with a client path", devices: `<channel type='unix'><source mode='connect' path='/etc/cron.d/evil'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`,
			absent: []string{"cron.d", "connect"}, reported: "source path /etc/cron.d/evil (libvirt chooses the socket)"},
		{name: "other channel", devices: `<channel type='unix'><source mode='bind' path='/run/evil.sock'/><target type='virtio' name='org.evil.0'/></channel>`,
			absent: []string{"evil"}, reported: "devices/channel: type=unix"},
		{name: "interface direct", devices: `<interface type='direct'><source dev='eth0' mode='passthrough'/></interface>`,
			absent: []string{"interface", "eth0", "passthrough"}, reported: "devices/interface: type=direct source dev=eth0"},
		{name: "interface ethernet with a script", devices: `<interface type='ethernet'><script path='/tmp/evil.sh'/><target dev='tap0'/></interface>`,
			absent: []string{"interface", "evil.sh"}, reported: "script path=/tmp/evil.sh"},
		{name: "network disk", devices: `<disk type='network' device='disk'><source protocol='nbd' name='x'><host name='10.0.0.1' port='10809'/></source><target dev='vde'/></disk>`,
			absent: []string{"nbd", "10.0.0.1"}, reported: "vde (network disk nbd:x): not a file or block device"},
		{name: "path climbing out of the copy", devices: `<disk type='file' device='disk'><source file='/tank/images/web1/../../../etc/shadow'/><target dev='vdf'/></disk>`,
			absent: []string{"shadow", "vdf"}, reported: "not on a restored dataset"},
		{name: "disk seclabel and backing store", devices: `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/tank/images/web1/a.qcow2'><seclabel model='dac' relabel='no'/></source><backingStore type='block'><format type='raw'/><source dev='/dev/sda'/></backingStore><target dev='vdg'/><shareable/></disk>`,
			absent: []string{"seclabel", "/dev/sda", "relabel", "shareable"}, reported: "devices/disk vdg: source/<seclabel>"},
		{name: "serial to a host file", devices: `<serial type='file'><source path='/etc/passwd'/><target port='0'/></serial><serial type='dev'><source path='/dev/ttyS0'/></serial>`,
			absent: []string{"/etc/passwd", "ttyS0", "serial"}, reported: "devices/serial: type=file source path=/etc/passwd"},
		{name: "pty console logging to a host file", devices: `<console type='pty'><log file='/etc/passwd' append='on'/><target type='serial'/></console>`,
			absent: []string{"passwd", "log"}, reported: "devices/console: <log> file=/etc/passwd"},
		{name: "memory backing and sysinfo", top: `<memoryBacking><source type='file'/><access mode='shared'/></memoryBacking><sysinfo type='smbios'><oemStrings><entry>x</entry></oemStrings></sysinfo>`,
			absent: []string{"memoryBacking", "sysinfo"}, reported: "memoryBacking"},
		{name: "redirdev and smartcard", devices: `<redirdev bus='usb' type='tcp'><source mode='connect' host='10.9.9.9' service='4000'/></redirdev><smartcard mode='passthrough' type='tcp'><source mode='bind' host='0.0.0.0' service='2001'/></smartcard>`,
			absent: []string{"redirdev", "smartcard", "10.9.9.9"}, reported: "devices/smartcard"},
		{name: "tpm passthrough", devices: `<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>`,
			absent: []string{"tpm"}, reported: "devices/tpm"},
		{name: "cpu features and numa", top: `<cpu mode='host-model'><feature policy='require' name='vmx'/><numa><cell id='0' cpus='0' memory='262144' memAccess='shared'/></numa></cpu>`,
			absent: []string{"vmx", "numa", "memAccess"}, reported: "cpu/feature: name=vmx"},
		{name: "coredump on crash", top: `<on_crash>coredump-restart</on_crash>`, absent: []string{"coredump"}, reported: "on_crash: coredump-restart"},
		{name: "unknown element", devices: `<pstore backend='acpi-erst'><path>/etc/shadow</path><size unit='KiB'>8</size></pstore>`,
			absent: []string{"pstore", "shadow"}, reported: "devices/pstore"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := BuildDomain(hostileXML(c.top, c.devices, c.os), webSpec)
			if err != nil {
				t.Fatal(err)
			}
			checkAllowed(t, b.XML)
			for _, a := range c.absent {
				if strings.Contains(b.XML, a) {
					t.Errorf("built XML has %q:\n%s", a, b.XML)
				}
			}
			if report := strings.Join(b.Dropped, "\n"); !strings.Contains(report, c.reported) {
				t.Errorf("report does not say %q:\n%s", c.reported, report)
			}
			d := parseBuilt(t, b.XML)
			for _, disk := range b.Disks {
				if disk.Path != "/dev/zvol/backup/hv1/tank/vm/web1-disk0-failover" &&
					!strings.HasPrefix(disk.Path, "/backup/hv1/tank/images/web1-failover/") {
					t.Errorf("disk %+v is not on a copy", disk)
				}
			}
			if len(d.Devices.Disks) != len(b.Disks) || d.Devices.Disks[0].Source.Block.Dev != "/dev/zvol/backup/hv1/tank/vm/web1-disk0-failover" {
				t.Errorf("disks %+v, want the copy's first", d.Devices.Disks)
			}
			if c.os != "" && strings.Contains(c.os, "pflash") && d.OS.Firmware != "efi" {
				t.Errorf("a pflash loader became firmware %q, want efi (the host's own firmware)", d.OS.Firmware)
			}
		})
	}
}

// allowedPaths are all the elements a built domain may have.
var allowedPaths = []string{"domain", "domain/name", "domain/memory", "domain/currentMemory", "domain/vcpu",
	"domain/cpu", "domain/cpu/model", "domain/cpu/topology", "domain/os", "domain/os/type", "domain/os/boot",
	"domain/os/kernel", "domain/os/initrd", "domain/os/cmdline",
	"domain/features", "domain/clock", "domain/clock/timer", "domain/on_poweroff", "domain/on_reboot", "domain/on_crash",
	"domain/pm", "domain/pm/suspend-to-mem", "domain/pm/suspend-to-disk", "domain/devices", "domain/devices/disk",
	"domain/devices/disk/driver", "domain/devices/disk/source", "domain/devices/disk/backingStore",
	"domain/devices/disk/target", "domain/devices/disk/serial", "domain/devices/disk/boot",
	"domain/devices/controller", "domain/devices/channel", "domain/devices/channel/source",
	"domain/devices/channel/target", "domain/devices/serial", "domain/devices/serial/target",
	"domain/devices/console", "domain/devices/console/target", "domain/devices/interface",
	"domain/devices/interface/source", "domain/devices/interface/model"}

// checkAllowed fails for any element of a built domain outside allowedPaths (features keep their children).
func checkAllowed(t *testing.T, out string) {
	t.Helper()
	var root xmlNode
	if err := xml.Unmarshal([]byte(out), &root); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, n xmlNode)
	walk = func(prefix string, n xmlNode) {
		p := prefix + n.XMLName.Local
		if n.XMLName.Space != "" || (!slices.Contains(allowedPaths, p) && !strings.HasPrefix(p, "domain/features/")) {
			t.Errorf("built XML has <%s> (%s)", p, n.XMLName.Space)
		}
		for _, c := range n.Nodes {
			walk(p+"/", c)
		}
	}
	walk("", root)
}

func TestBuildDomainRefuses(t *testing.T) {
	netOnly := `<domain type="qemu"><name>db1</name><memory>262144</memory><os><type>hvm</type></os><devices>
<disk type="network" device="disk"><source protocol="nbd" name="disk0"><host name="storage1" port="10809"/></source><target dev="vda"/></disk>
<disk type="block" device="disk"><source dev="/dev/zvol/tank/vm/db1-log"/><target dev="vdb"/></disk>
</devices></domain>`
	_, err := BuildDomain(netOnly, BuildSpec{Name: "db1", Volumes: map[string]string{"/dev/zvol/tank/vm/db1-disk0": "/dev/zvol/x"}})
	if err == nil || !strings.Contains(err.Error(), "vda (network disk nbd:disk0)") || !strings.Contains(err.Error(), "vdb (/dev/zvol/tank/vm/db1-log)") {
		t.Errorf("a guest with no disk on the copies: %v, want a refusal naming vda and vdb", err)
	}
	for _, typ := range []string{"xen", "lxc", "test", ""} {
		x := strings.Replace(hostileXML("", "", ""), "type='kvm'", "type='"+typ+"'", 1)
		if _, err := BuildDomain(x, webSpec); err == nil || !strings.Contains(err.Error(), "only kvm and qemu") {
			t.Errorf("domain type %q: %v, want a refusal", typ, err)
		}
	}
	if _, err := BuildDomain(strings.Replace(hostileXML("", "", ""), ">hvm<", ">exe<", 1), webSpec); err == nil {
		t.Error("os type exe accepted")
	}
	if _, err := BuildDomain("<domain", webSpec); err == nil {
		t.Error("broken XML accepted")
	}
}

// A direct kernel boot whose kernel and initrd are files on the copy is kept, moved onto the copy, and its files
// are checked like image disks.
func TestBuildDomainKeepsDirectBootOnTheCopy(t *testing.T) {
	x := hostileXML("", "", `<kernel>/tank/images/web1/boot/vmlinuz</kernel><initrd>/tank/images/web1/boot/initrd.img</initrd><cmdline>console=ttyS0 quiet</cmdline>`)
	b, err := BuildDomain(x, webSpec)
	if err != nil {
		t.Fatal(err)
	}
	d := parseBuilt(t, b.XML)
	copyDir := "/backup/hv1/tank/images/web1-failover"
	if d.OS.Kernel != copyDir+"/boot/vmlinuz" || d.OS.Initrd != copyDir+"/boot/initrd.img" || d.OS.Cmdline != "console=ttyS0 quiet" {
		t.Errorf("os: kernel %q initrd %q cmdline %q, want them on the copy", d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline)
	}
	var files []string
	for _, f := range b.Disks {
		if strings.HasPrefix(f.Target, "os/") {
			files = append(files, f.Target+"="+f.Path)
			if f.Root != copyDir {
				t.Errorf("%s: root %q, want %q (CheckDisks confines it there)", f.Target, f.Root, copyDir)
			}
		}
	}
	if want := []string{"os/kernel=" + copyDir + "/boot/vmlinuz", "os/initrd=" + copyDir + "/boot/initrd.img"}; !slices.Equal(files, want) {
		t.Errorf("boot files to check: %v, want %v", files, want)
	}
}
