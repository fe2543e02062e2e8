// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * portwarden's in-kernel holder finder: a `task_file` iterator that visits
 * every open file of every task in one pass and writes one fixed-size
 * record per socket fd. User space (src/os/bpf.rs) keeps the records whose
 * inode is a listening socket; everything else about the holders still
 * comes from /proc.
 *
 * Record: { u32 tgid; u32 fd; u64 inode } (native endian, 16 bytes).
 *
 * The kernel already skips threads that share their leader's fd table; the
 * tasks it does show with tgid != pid (a leader that exited with
 * pthread_exit, a thread that did unshare(CLONE_FILES)) are real holders
 * and are reported under their tgid, never dropped.
 *
 * Build (see build.sh): clang -target bpf -O2 -g, then strip the DWARF but
 * keep .BTF/.BTF.ext, which the loader needs for the CO-RE relocations.
 */
#include "task_sockets.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define PIDTYPE_TGID 1
/* MAX_PID_NS_LEVEL in the kernel. */
#define MAX_LEVEL 32

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct record {
	__u32 tgid;
	__u32 fd;
	__u64 inode;
};

/*
 * The tgid as the reader sees it. task->tgid is the initial namespace's
 * number; a reader inside a pid namespace (which is also the only
 * namespace whose tasks the kernel iterates for it) needs the number at its
 * own level — /proc and ss show that one. 0 when there is none.
 */
static __always_inline __u32 tgid_for_reader(struct task_struct *task)
{
	struct task_struct *me = bpf_get_current_task_btf();
	unsigned int level = BPF_CORE_READ(me, thread_pid, level);
	struct pid *tp;
	struct upid up;

	/* Read through the helper, not a direct load: clang would otherwise
	 * merge this load with the stack load below into one instruction on
	 * two pointer types, which the verifier rejects. */
	if (level == 0)
		return BPF_CORE_READ(task, tgid);
	if (level > MAX_LEVEL)
		return 0;
	tp = BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]);
	if (!tp || BPF_CORE_READ(tp, level) < level)
		return 0;
	if (bpf_probe_read_kernel(&up, sizeof(up), &tp->numbers[level]))
		return 0;
	return up.nr;
}

SEC("iter/task_file")
int task_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct record r;
	struct inode *inode;

	if (!task || !file)
		return 0;
	/* Runs for every open file of the machine: direct (BTF-checked)
	 * loads here, no helper calls, so the common non-socket case costs a
	 * few instructions. */
	inode = file->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	r.tgid = tgid_for_reader(task);
	if (!r.tgid)
		return 0;
	r.fd = ctx->fd;
	r.inode = inode->i_ino;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
