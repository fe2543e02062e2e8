/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * The few kernel types task_sockets.bpf.c reads, as CO-RE subsets: with
 * preserve_access_index every field access is relocated by the loader
 * against the running kernel's BTF, so these need neither the right size
 * nor the right offsets — only the right names. Hand-written instead of a
 * bpftool-generated vmlinux.h (megabytes, and different on every kernel),
 * so the object is reproducible from this repository alone.
 */
#ifndef TASK_SOCKETS_H
#define TASK_SOCKETS_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#define CORE __attribute__((preserve_access_index))

struct pid_namespace;

struct upid {
	int nr;
	struct pid_namespace *ns;
} CORE;

struct pid {
	unsigned int level;
	struct upid numbers[1];
} CORE;

struct signal_struct {
	struct pid *pids[4];
} CORE;

struct task_struct {
	int pid;
	int tgid;
	struct pid *thread_pid;
	struct signal_struct *signal;
} CORE;

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
} CORE;

struct file {
	struct inode *f_inode;
} CORE;

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} CORE;

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} CORE;

#endif
