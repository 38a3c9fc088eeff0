// Package zfs is the only place in hotzfs that runs the zfs and zpool binaries.
// It lists datasets and snapshots, snapshots atomically, streams send/receive, and manages holds and bookmarks.
package zfs
