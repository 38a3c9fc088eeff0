// Command hotzfs makes hot backups of libvirt guests on ZFS and replicates them to a receiver.
package main
