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
// dataset). It fails when a disk that was mapped to ZFS keeps a path no key matches.
func RewriteForRestore(xml, newName string, paths map[string]string) (string, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return "", fmt.Errorf("stored domain XML: %w", err)
	}
	d.Name, d.UUID = newName, ""
	if d.Devices != nil {
		for i := range d.Devices.Interfaces {
			d.Devices.Interfaces[i].MAC = nil
		}
		for i := range d.Devices.Disks {
			rewriteDiskSource(&d.Devices.Disks[i], paths)
		}
	}
	out, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("domain XML: %w", err)
	}
	return out, nil
}

func rewriteDiskSource(disk *libvirtxml.DomainDisk, paths map[string]string) {
	if disk.Source == nil {
		return
	}
	swap := func(p string) string {
		for from, to := range paths {
			if p == from || strings.HasPrefix(p, strings.TrimSuffix(from, "/")+"/") {
				return to + strings.TrimPrefix(p, from)
			}
		}
		return p
	}
	if f := disk.Source.File; f != nil {
		f.File = swap(f.File)
	}
	if b := disk.Source.Block; b != nil {
		b.Dev = swap(b.Dev)
	}
}
