package guest

import (
	"context"
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Define creates (or replaces) a persistent domain from its XML.
func (c *Client) Define(ctx context.Context, xml string) (Domain, error) {
	var name string
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err == nil {
		name = d.Name
	}
	return call(ctx, name, "define domain", func() (Domain, error) {
		dom, err := c.lv.DomainDefineXML(xml)
		if err != nil {
			return Domain{}, err
		}
		return newDomain(dom), nil
	})
}

// Start boots a defined domain.
func (c *Client) Start(ctx context.Context, dom Domain) error {
	_, err := call(ctx, dom.Name, "start domain", func() (struct{}, error) {
		return struct{}{}, c.lv.DomainCreate(dom.ref)
	})
	return err
}

// DomainName returns the name in a domain XML.
func DomainName(xml string) (string, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return "", fmt.Errorf("domain XML: %w", err)
	}
	return d.Name, nil
}

// RewriteForRestore prepares a stored domain XML for defining a restored copy next to the original: the
// domain gets newName and no UUID (libvirt makes one), interface MAC addresses are dropped (libvirt makes new
// ones, so the copy does not clash with the original on the network), and every disk source path that starts
// with a key of paths has that prefix replaced by its value (zvol device or mountpoint of the restored
// dataset). Cdroms, floppies, read-only and shareable disks may keep their sources. Any other disk whose
// source no key matches (a disk of the guest that was not restored, a network disk) is an error naming it:
// the copy would otherwise write to the original's disk.
func RewriteForRestore(xml, newName string, paths map[string]string) (string, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return "", fmt.Errorf("stored domain XML: %w", err)
	}
	d.Name, d.UUID = newName, ""
	var kept []string
	if d.Devices != nil {
		for i := range d.Devices.Interfaces {
			d.Devices.Interfaces[i].MAC = nil
		}
		for i := range d.Devices.Disks {
			disk := &d.Devices.Disks[i]
			if !rewriteDiskSource(disk, paths) && mustMove(disk) {
				kept = append(kept, describeDisk(disk))
			}
		}
	}
	if len(kept) > 0 {
		return "", fmt.Errorf("%s would still use the original's storage: %s — restore every disk of the guest "+
			"(and define it by hand where a disk is not a file or block device)", newName, strings.Join(kept, "; "))
	}
	out, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("domain XML: %w", err)
	}
	return out, nil
}

// rewriteDiskSource swaps the prefix of a file or block disk's path and reports whether it did.
func rewriteDiskSource(disk *libvirtxml.DomainDisk, paths map[string]string) bool {
	if disk.Source == nil {
		return false
	}
	swap := func(p string) (string, bool) {
		for from, to := range paths {
			if p == from || strings.HasPrefix(p, strings.TrimSuffix(from, "/")+"/") {
				return to + strings.TrimPrefix(p, from), true
			}
		}
		return p, false
	}
	var ok bool
	if f := disk.Source.File; f != nil {
		f.File, ok = swap(f.File)
	}
	if b := disk.Source.Block; b != nil {
		b.Dev, ok = swap(b.Dev)
	}
	return ok
}

// mustMove reports whether a disk is writable storage of the guest that a restored copy must not share.
func mustMove(disk *libvirtxml.DomainDisk) bool {
	switch {
	case disk.Source == nil, disk.ReadOnly != nil, disk.Shareable != nil:
		return false
	case disk.Device == "cdrom", disk.Device == "floppy":
		return false
	case disk.Source.File != nil && disk.Source.File.File == "", disk.Source.Block != nil && disk.Source.Block.Dev == "":
		return false // an empty drive
	}
	return true
}

func describeDisk(disk *libvirtxml.DomainDisk) string {
	target := "disk"
	if disk.Target != nil && disk.Target.Dev != "" {
		target = disk.Target.Dev
	}
	s := disk.Source
	switch {
	case s.File != nil:
		return fmt.Sprintf("%s (%s)", target, s.File.File)
	case s.Block != nil:
		return fmt.Sprintf("%s (%s)", target, s.Block.Dev)
	case s.Network != nil:
		return fmt.Sprintf("%s (network disk %s:%s)", target, s.Network.Protocol, s.Network.Name)
	case s.Volume != nil:
		return fmt.Sprintf("%s (storage pool volume %s/%s)", target, s.Volume.Pool, s.Volume.Volume)
	}
	return target
}
