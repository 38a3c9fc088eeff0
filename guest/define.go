package guest

import (
	"context"
	"fmt"

	"github.com/digitalocean/go-libvirt"
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

// Shutdown asks the guest to shut down, through its agent or the ACPI power button (libvirt picks the method
// the guest answers), and returns at once: wait for [StateShutoff] with [Client.State].
func (c *Client) Shutdown(ctx context.Context, dom Domain) error {
	_, err := call(ctx, dom.Name, "shut down domain", func() (struct{}, error) {
		return struct{}{}, c.lv.DomainShutdownFlags(dom.ref, libvirt.DomainShutdownAcpiPowerBtn|libvirt.DomainShutdownGuestAgent)
	})
	return err
}

// Destroy stops a running domain at once, as a power cut would; its definition stays.
func (c *Client) Destroy(ctx context.Context, dom Domain) error {
	_, err := call(ctx, dom.Name, "destroy domain", func() (struct{}, error) {
		return struct{}{}, c.lv.DomainDestroy(dom.ref)
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

// DiskSources returns the file and block source paths of a domain XML's disks (device disk), in their order.
func DiskSources(xml string) ([]string, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return nil, fmt.Errorf("domain XML: %w", err)
	}
	if d.Devices == nil {
		return nil, nil
	}
	var out []string
	for _, disk := range d.Devices.Disks {
		if disk.Device != "" && disk.Device != "disk" {
			continue
		}
		if src, kind, _ := (mapper{}).source(disk.Source); kind == kindFile || kind == kindBlock {
			out = append(out, src)
		}
	}
	return out, nil
}

// describeDisk names a disk of a stored XML for the report of what BuildDomain left out: "vda (/path)".
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

// SetAutostart sets whether libvirt starts the domain when its host boots.
func (c *Client) SetAutostart(ctx context.Context, dom Domain, on bool) error {
	v := int32(0)
	if on {
		v = 1
	}
	_, err := call(ctx, dom.Name, "set autostart", func() (struct{}, error) {
		return struct{}{}, c.lv.DomainSetAutostart(dom.ref, v)
	})
	return err
}
