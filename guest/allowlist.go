package guest

import (
	"encoding/xml"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// AgentChannel is the virtio-serial name of the qemu-guest-agent channel.
const AgentChannel = "org.qemu.guest_agent.0"

// BuildSpec says how BuildDomain makes the domain defined for a restored or failed-over guest.
type BuildSpec struct {
	Name string // the new domain's name
	// Volumes maps a zvol device of the stored XML (/dev/zvol/POOL/DS) to its copy's device: such a disk is
	// defined as a block disk on the copy.
	Volumes map[string]string
	// Filesystems maps a mountpoint of the stored XML to its copy's: a disk image under it is defined as a
	// file disk at the same place under the copy.
	Filesystems map[string]string
	// Network is the libvirt network of the one virtio interface the guest gets; "" for none.
	Network string
}

// BuiltDisk is a disk of the built domain, on one of the copies — or the kernel or initrd file of its direct
// kernel boot, which CheckDisks checks like an image file.
type BuiltDisk struct {
	Target string // target dev (vda); os/kernel or os/initrd for a direct boot's files
	Path   string // zvol device or image file
	Root   string // the copy's mountpoint for an image file, "" for a zvol
	Format string // raw or qcow2
}

// Built is a domain BuildDomain made and what it left out.
type Built struct {
	XML     string
	Disks   []BuiltDisk
	Dropped []string // what of the stored XML the domain does not have, one line each
}

// BuildDomain makes the domain to define for a restored copy of a guest from its stored XML, which is not
// trusted: it may come from the client whose guest it is (failover on the backup host) or from the receiver
// (restore --define). Nothing of the stored XML is copied unless this allowlist names it:
//
//   - domain type kvm or qemu (anything else is refused), memory and currentMemory, vcpu (count only), cpu
//     mode, model name and topology, os type hvm with arch, machine and boot order (a pflash loader or
//     firmware='efi' becomes firmware='efi': libvirt picks this host's UEFI firmware and makes fresh
//     variables), a direct kernel boot whose kernel and initrd are files on a copy, the features acpi, apic, pae, hap, pmu, vmport, smm, hyperv and kvm, clock, the on_*
//     actions destroy/restart/preserve/rename-restart, pm;
//   - disks (device disk, file or block) whose source is on a copy (spec.Volumes, spec.Filesystems): defined
//     anew on the copy with driver qemu raw or qcow2 and no backing store, target dev and bus, serial and
//     boot order — nothing else of the disk;
//   - the guest agent's unix channel (libvirt chooses the socket path), pty serial ports and consoles, scsi
//     controllers (type, index and model);
//   - one virtio interface on spec.Network when it is set.
//
// The new domain has spec.Name and no UUID. Everything else — seclabel, emulator (libvirt uses this host's),
// other disks, cdroms and floppies, filesystems, hostdevs, interfaces of the stored XML, graphics, qemu:*
// and other namespaces, sysinfo, memoryBacking, numa, tuning, device addresses — is left out, and Dropped
// says what was. A domain of another type, an os type other than hvm, or one where no disk is on a copy is
// refused.
func BuildDomain(stored string, spec BuildSpec) (Built, error) {
	var in libvirtxml.Domain
	if err := in.Unmarshal(stored); err != nil {
		return Built{}, fmt.Errorf("stored domain XML: %w", err)
	}
	var raw xmlNode
	if err := xml.Unmarshal([]byte(stored), &raw); err != nil {
		return Built{}, fmt.Errorf("stored domain XML: %w", err)
	}
	if in.Type != "kvm" && in.Type != "qemu" {
		return Built{}, fmt.Errorf("domain type %q: only kvm and qemu guests can be defined from a backup; define it by hand", in.Type)
	}
	if in.OS == nil || in.OS.Type == nil || in.OS.Type.Type != "hvm" {
		return Built{}, fmt.Errorf("os type is not hvm: only hvm guests can be defined from a backup; define it by hand")
	}
	b := builder{spec: spec}
	out := libvirtxml.Domain{Type: in.Type, Name: spec.Name, OnPoweroff: b.action("on_poweroff", in.OnPoweroff),
		OnReboot: b.action("on_reboot", in.OnReboot), OnCrash: b.action("on_crash", in.OnCrash), Clock: in.Clock, PM: in.PM}
	if m := in.Memory; m != nil {
		out.Memory = &libvirtxml.DomainMemory{Value: m.Value, Unit: m.Unit}
	}
	if m := in.CurrentMemory; m != nil {
		out.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: m.Value, Unit: m.Unit}
	}
	if v := in.VCPU; v != nil {
		out.VCPU = &libvirtxml.DomainVCPU{Value: v.Value, Current: v.Current}
	}
	out.CPU = b.cpu(in.CPU)
	out.OS = b.os(in.OS)
	out.Features = features(in.Features)
	out.Devices = b.devices(in.Devices, raw.child("devices"))
	if len(b.disks) == 0 {
		return Built{}, fmt.Errorf("no disk of guest %s is on the restored datasets (%s): restore the dataset of "+
			"its disks, or define the guest by hand; nothing defined", in.Name, strings.Join(b.unmoved, "; "))
	}
	b.disks = append(b.disks, b.bootFiles...)
	b.dropRaw(raw)
	xmlOut, err := out.Marshal()
	if err != nil {
		return Built{}, fmt.Errorf("domain XML: %w", err)
	}
	return Built{XML: xmlOut, Disks: b.disks, Dropped: b.report()}, nil
}

type builder struct {
	spec      BuildSpec
	disks     []BuiltDisk
	bootFiles []BuiltDisk         // kernel and initrd of a kept direct boot
	unmoved   []string            // disks left out, for the refusal when none is kept
	dropped   map[string][]string // path → details
	order     []string
}

func (b *builder) drop(where, what string) {
	if b.dropped == nil {
		b.dropped = map[string][]string{}
	}
	if _, ok := b.dropped[where]; !ok {
		b.order = append(b.order, where)
	}
	b.dropped[where] = append(b.dropped[where], what)
}

// report is one line per place: "devices/controller: usb, pci ×3".
func (b *builder) report() []string {
	var lines []string
	for _, where := range b.order {
		var parts []string
		counts := map[string]int{}
		for _, w := range b.dropped[where] {
			if counts[w]++; counts[w] == 1 {
				parts = append(parts, w)
			}
		}
		for i, p := range parts {
			if n := counts[p]; n > 1 {
				parts[i] = fmt.Sprintf("%s ×%d", p, n)
			}
		}
		line := where
		if s := strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ", "); s != "" {
			line += ": " + s
		}
		lines = append(lines, line)
	}
	return lines
}

var onActions = []string{"destroy", "restart", "preserve", "rename-restart"}

func (b *builder) action(where, a string) string {
	if a == "" || slices.Contains(onActions, a) {
		return a
	}
	b.drop(where, a)
	return ""
}

var token = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (b *builder) cpu(c *libvirtxml.DomainCPU) *libvirtxml.DomainCPU {
	if c == nil {
		return nil
	}
	out := &libvirtxml.DomainCPU{Topology: c.Topology}
	switch c.Mode {
	case "", "custom", "host-model", "host-passthrough", "maximum":
		out.Mode = c.Mode
	default:
		b.drop("cpu", "mode "+c.Mode)
	}
	if slices.Contains([]string{"minimum", "exact", "strict"}, c.Match) {
		out.Match = c.Match
	}
	if m := c.Model; m != nil && m.Value != "" {
		if token.MatchString(m.Value) {
			out.Model = &libvirtxml.DomainCPUModel{Value: m.Value, Fallback: m.Fallback}
		} else {
			b.drop("cpu/model", m.Value)
		}
	}
	return out
}

func (b *builder) os(o *libvirtxml.DomainOS) *libvirtxml.DomainOS {
	t := &libvirtxml.DomainOSType{Type: "hvm"}
	if token.MatchString(o.Type.Arch) {
		t.Arch = o.Type.Arch
	}
	if token.MatchString(o.Type.Machine) {
		t.Machine = o.Type.Machine
	}
	out := &libvirtxml.DomainOS{Type: t}
	if o.Firmware == "efi" || (o.Loader != nil && o.Loader.Type == "pflash") {
		out.Firmware = "efi"
	}
	b.directBoot(o, out)
	for _, d := range o.BootDevices {
		if slices.Contains([]string{"hd", "network", "cdrom", "fd"}, d.Dev) {
			out.BootDevices = append(out.BootDevices, libvirtxml.DomainBootDevice{Dev: d.Dev})
		}
	}
	return out
}

// maxCmdline bounds a kept kernel command line (Linux's own limit on x86 is 2048 bytes).
const maxCmdline = 4096

// directBoot keeps a direct kernel boot whose kernel (and initrd) are files on a copy, like an image file
// disk: qemu reads them from the host, so any other path is left out, and with it the whole direct boot (a
// kernel without its initrd does not boot either); the guest then boots from its disks. The command line
// reaches only the guest.
func (b *builder) directBoot(o *libvirtxml.DomainOS, out *libvirtxml.DomainOS) {
	if o.Kernel == "" {
		if o.Initrd != "" || o.Cmdline != "" {
			b.drop("os", "initrd or cmdline without a kernel")
		}
		return
	}
	var files []BuiltDisk
	for _, f := range []struct{ target, path string }{{"os/kernel", o.Kernel}, {"os/initrd", o.Initrd}} {
		if f.path == "" {
			continue
		}
		newPath, root, ok := b.move(f.path)
		if !ok || root == "" {
			b.drop("os", "direct kernel boot: "+f.target+" "+f.path+" is not on a restored dataset")
			return
		}
		files = append(files, BuiltDisk{Target: f.target, Path: newPath, Root: root, Format: "raw"})
	}
	if len(o.Cmdline) > maxCmdline || strings.ContainsFunc(o.Cmdline, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		b.drop("os", "direct kernel boot: cmdline longer than 4096 bytes or with control characters")
		return
	}
	out.Kernel, out.Cmdline = files[0].Path, o.Cmdline
	if len(files) > 1 {
		out.Initrd = files[1].Path
	}
	b.bootFiles = files
}

// features keeps the guest-visible switches that reach no host resource.
func features(f *libvirtxml.DomainFeatureList) *libvirtxml.DomainFeatureList {
	if f == nil {
		return nil
	}
	return &libvirtxml.DomainFeatureList{PAE: f.PAE, ACPI: f.ACPI, APIC: f.APIC, HAP: f.HAP, PMU: f.PMU,
		VMPort: f.VMPort, SMM: f.SMM, HyperV: f.HyperV, KVM: f.KVM}
}

// keptFeatures are the features elements features() copies.
var keptFeatures = []string{"pae", "acpi", "apic", "hap", "pmu", "vmport", "smm", "hyperv", "kvm"}

func (b *builder) devices(d *libvirtxml.DomainDeviceList, raw *xmlNode) *libvirtxml.DomainDeviceList {
	out := &libvirtxml.DomainDeviceList{}
	if d == nil {
		return out
	}
	rawDisks := raw.children("disk")
	for i := range d.Disks {
		var rd *xmlNode
		if i < len(rawDisks) {
			rd = rawDisks[i]
		}
		if disk, ok := b.disk(&d.Disks[i], rd); ok {
			out.Disks = append(out.Disks, disk)
		}
	}
	for _, c := range d.Controllers {
		if c.Type == "scsi" && (c.Model == "" || token.MatchString(c.Model)) {
			out.Controllers = append(out.Controllers, libvirtxml.DomainController{Type: c.Type, Index: c.Index, Model: c.Model})
		}
	}
	for _, c := range d.Channels {
		agent := c.Source != nil && c.Source.UNIX != nil && c.Target != nil && c.Target.VirtIO != nil &&
			c.Target.VirtIO.Name == AgentChannel
		if !agent || len(out.Channels) > 0 {
			continue // reported from the raw XML
		}
		if p := c.Source.UNIX.Path; p != "" {
			b.drop("devices/channel "+AgentChannel, "source path "+p+" (libvirt chooses the socket)")
		}
		out.Channels = append(out.Channels, libvirtxml.DomainChannel{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
			Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: AgentChannel}}})
	}
	for _, s := range d.Serials {
		if s.Source != nil && s.Source.Pty != nil {
			t := &libvirtxml.DomainSerialTarget{}
			if s.Target != nil {
				t.Port = s.Target.Port
			}
			out.Serials = append(out.Serials, libvirtxml.DomainSerial{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}, Target: t})
		}
	}
	for _, c := range d.Consoles {
		if c.Source != nil && c.Source.Pty != nil {
			t := &libvirtxml.DomainConsoleTarget{}
			if c.Target != nil && slices.Contains([]string{"serial", "virtio"}, c.Target.Type) {
				t.Type, t.Port = c.Target.Type, c.Target.Port
			}
			out.Consoles = append(out.Consoles, libvirtxml.DomainConsole{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}, Target: t})
		}
	}
	if b.spec.Network != "" {
		out.Interfaces = []libvirtxml.DomainInterface{{
			Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: b.spec.Network}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"}}}
	}
	return out
}

var (
	diskBuses   = []string{"virtio", "sata", "scsi", "ide", "usb"}
	diskCaches  = []string{"default", "none", "writethrough", "writeback", "directsync", "unsafe"}
	diskIOModes = []string{"native", "threads", "io_uring"}
	diskKept    = []string{"driver", "source", "target", "serial", "boot", "address", "alias", "backingStore"}
)

// disk makes the copy's disk from a stored one, or reports why there is none.
func (b *builder) disk(in *libvirtxml.DomainDisk, raw *xmlNode) (libvirtxml.DomainDisk, bool) {
	desc := describeDisk(in)
	leave := func(why string) (libvirtxml.DomainDisk, bool) {
		b.drop("devices/disk", desc+": "+why)
		if in.Device == "" || in.Device == "disk" {
			b.unmoved = append(b.unmoved, desc)
		}
		return libvirtxml.DomainDisk{}, false
	}
	if in.Device != "" && in.Device != "disk" {
		return leave(in.Device + " not kept")
	}
	var src string
	switch {
	case in.Source != nil && in.Source.File != nil && in.Source.File.File != "":
		src = in.Source.File.File
	case in.Source != nil && in.Source.Block != nil && in.Source.Block.Dev != "":
		src = in.Source.Block.Dev
	default:
		return leave("not a file or block device")
	}
	newPath, root, ok := b.move(src)
	if !ok {
		return leave("not on a restored dataset")
	}
	format := "raw"
	if in.Driver != nil {
		switch in.Driver.Type {
		case "", "raw":
		case "qcow2":
			format = "qcow2"
		default:
			return leave("format " + in.Driver.Type + " (only raw and qcow2)")
		}
	}
	if in.Target == nil || !token.MatchString(in.Target.Dev) {
		return leave("no target dev")
	}
	drv := &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format}
	if d := in.Driver; d != nil {
		drv.Cache = pick(d.Cache, diskCaches)
		drv.IO = pick(d.IO, diskIOModes)
		drv.Discard = pick(d.Discard, []string{"unmap", "ignore"})
	}
	out := libvirtxml.DomainDisk{Device: "disk", Driver: drv, BackingStore: &libvirtxml.DomainDiskBackingStore{},
		Target: &libvirtxml.DomainDiskTarget{Dev: in.Target.Dev, Bus: pick(in.Target.Bus, diskBuses)}}
	if root == "" {
		out.Source = &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: newPath}}
	} else {
		out.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: newPath}}
	}
	if token.MatchString(in.Serial) {
		out.Serial = in.Serial
	}
	if in.Boot != nil {
		out.Boot = &libvirtxml.DomainDeviceBoot{Order: in.Boot.Order}
	}
	if raw != nil {
		for _, c := range raw.Nodes {
			if !slices.Contains(diskKept, c.XMLName.Local) || c.XMLName.Space != "" {
				b.drop("devices/disk "+in.Target.Dev, c.describe())
			} else if c.XMLName.Local == "source" || c.XMLName.Local == "backingStore" {
				for _, cc := range c.Nodes {
					b.drop("devices/disk "+in.Target.Dev, c.XMLName.Local+"/"+cc.describe())
				}
			}
		}
	}
	b.disks = append(b.disks, BuiltDisk{Target: in.Target.Dev, Path: newPath, Root: root, Format: format})
	return out, true
}

// move finds where a stored disk path is on the copies: exactly a mapped zvol device, or a clean path under a
// mapped mountpoint (no "..", so it cannot climb out of the copy).
func (b *builder) move(p string) (newPath, root string, ok bool) {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return "", "", false
	}
	if to, ok := b.spec.Volumes[p]; ok {
		return to, "", true
	}
	best, to := "", ""
	for from, dest := range b.spec.Filesystems {
		f := strings.TrimSuffix(from, "/")
		if f != "" && strings.HasPrefix(p, f+"/") && len(f) > len(best) {
			best, to = f, strings.TrimSuffix(dest, "/")
		}
	}
	if best == "" || to == "" {
		return "", "", false
	}
	return to + strings.TrimPrefix(p, best), to, true
}

func pick(v string, allowed []string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return ""
}

// The elements of each kept part of the stored XML that BuildDomain copies (in part); dropRaw reports the others.
var (
	keptTop     = []string{"name", "uuid", "memory", "currentMemory", "vcpu", "cpu", "os", "features", "clock", "on_poweroff", "on_reboot", "on_crash", "pm", "devices"}
	keptOS      = []string{"type", "boot", "kernel", "initrd", "cmdline"} // the last three: see directBoot
	keptCPU     = []string{"model", "topology"}
	keptDevices = []string{"disk"} // the others are checked one by one below
)

// dropRaw reports what the built domain does not have, from the stored XML itself (libvirtxml ignores what it
// does not know, and so would the report).
func (b *builder) dropRaw(d xmlNode) {
	for _, n := range d.Nodes {
		name := n.XMLName.Local
		switch {
		case n.XMLName.Space != "":
			b.drop(n.describe(), "")
		case !slices.Contains(keptTop, name):
			b.drop(name, n.detail())
		case name == "os":
			for _, c := range n.Nodes {
				if !slices.Contains(keptOS, c.XMLName.Local) {
					b.drop("os/"+c.XMLName.Local, c.detail())
				}
			}
		case name == "cpu":
			for _, c := range n.Nodes {
				if !slices.Contains(keptCPU, c.XMLName.Local) {
					b.drop("cpu/"+c.XMLName.Local, c.detail())
				}
			}
		case name == "features":
			for _, c := range n.Nodes {
				if !slices.Contains(keptFeatures, c.XMLName.Local) {
					b.drop("features/"+c.XMLName.Local, c.detail())
				}
			}
		case name == "devices":
			b.dropDevices(n)
		}
	}
}

func (b *builder) dropDevices(devs xmlNode) {
	agent := 0
	for _, n := range devs.Nodes {
		name, typ := n.XMLName.Local, n.attr("type")
		where := "devices/" + name
		switch {
		case slices.Contains(keptDevices, name):
		case name == "emulator":
			b.drop(where, n.detail()+" (libvirt uses this host's)")
		case name == "controller" && typ == "scsi":
		case name == "channel" && typ == "unix" && n.child("target").attr("name") == AgentChannel && agent == 0:
			agent++
			b.dropChardevParts(where, n)
		case (name == "serial" || name == "console") && (typ == "pty" || typ == ""):
			b.dropChardevParts(where, n)
		case name == "interface":
			why := "no --network given"
			if b.spec.Network != "" {
				why = "replaced by one on network " + b.spec.Network
			}
			b.drop(where, n.detail()+" ("+why+")")
		default:
			b.drop(where, n.detail())
		}
	}
}

// dropChardevParts reports what a kept channel, serial port or console loses: its log file, protocol and
// whatever its source says beyond the source itself.
func (b *builder) dropChardevParts(where string, n xmlNode) {
	for _, c := range n.Nodes {
		switch c.XMLName.Local {
		case "target", "alias", "address":
		case "source":
			for _, cc := range c.Nodes {
				b.drop(where, "source/"+cc.describe())
			}
		default:
			b.drop(where, c.describe())
		}
	}
}

// xmlNode is any element of the stored XML, to report what BuildDomain leaves out.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xmlNode  `xml:",any"`
}

func (n *xmlNode) child(name string) *xmlNode {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xmlNode) children(name string) []*xmlNode {
	var out []*xmlNode
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

func (n *xmlNode) attr(name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// detail is what identifies a dropped element: its telling attributes and its text, shortened.
func (n *xmlNode) detail() string {
	var parts []string
	for _, k := range []string{"type", "name", "model", "mode", "dev", "file", "path", "protocol"} {
		if v := n.attr(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	for _, c := range n.Nodes { // a source, a target or a driver says most about a device
		if l := c.XMLName.Local; l == "source" || l == "target" || l == "script" || l == "driver" {
			for _, k := range []string{"dir", "dev", "file", "path", "network", "bridge", "name", "protocol"} {
				if v := c.attr(k); v != "" {
					parts = append(parts, l+" "+k+"="+v)
				}
			}
		}
	}
	if t := strings.TrimSpace(n.Text); t != "" {
		if len(t) > 80 {
			t = t[:77] + "..."
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

func (n *xmlNode) describe() string {
	name := "<" + n.XMLName.Local + ">"
	if n.XMLName.Space != "" {
		name += " (namespace " + n.XMLName.Space + ")"
	}
	if d := n.detail(); d != "" {
		name += " " + d
	}
	return name
}
