package zfs

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeSize is the buffer asked for on the pipes to zfs send and from zfs receive (Linux defaults to 64 KiB):
// the producer runs ahead of the consumer by this much, and each read or write moves more per system call.
const pipeSize = 1 << 20

// growPipe enlarges the pipe behind f to pipeSize; the kernel may refuse (a limit in
// /proc/sys/fs/pipe-max-size for unprivileged users), which only costs speed.
func growPipe(f any) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	})
}
