/**
 * x86_64 system call numbers → names (Linux 6.18), generated from the
 * kernel's unistd_64.h plus the calls added since Linux 6.1.
 * @module
 */

/** Syscall names indexed by number (x86_64); holes are `undefined`. */
export const SYSCALLS_X86_64: readonly (string | undefined)[] = (() => {
  const t: (string | undefined)[] = [];
  const add = (first: number, names: string) =>
    names.split(" ").forEach((n, i) => {
      if (n !== "-") t[first + i] = n;
    });
  add(0, "read write open close stat fstat lstat poll lseek mmap mprotect munmap");
  add(12, "brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64");
  add(19, "readv writev access pipe select sched_yield mremap msync mincore");
  add(28, "madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm");
  add(38, "setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg");
  add(47, "recvmsg shutdown bind listen getsockname getpeername socketpair");
  add(54, "setsockopt getsockopt clone fork vfork execve exit wait4 kill uname");
  add(64, "semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync");
  add(75, "fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir");
  add(84, "rmdir creat link unlink symlink readlink chmod fchmod chown fchown");
  add(94, "lchown umask gettimeofday getrlimit getrusage sysinfo times ptrace");
  add(102, "getuid syslog getgid setuid setgid geteuid getegid setpgid getppid");
  add(111, "getpgrp setsid setreuid setregid getgroups setgroups setresuid");
  add(118, "getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget");
  add(126, "capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend");
  add(131, "sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs");
  add(140, "getpriority setpriority sched_setparam sched_getparam");
  add(144, "sched_setscheduler sched_getscheduler sched_get_priority_max");
  add(147, "sched_get_priority_min sched_rr_get_interval mlock munlock mlockall");
  add(152, "munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl");
  add(159, "adjtimex setrlimit chroot sync acct settimeofday mount umount2 swapon");
  add(168, "swapoff reboot sethostname setdomainname iopl ioperm create_module");
  add(175, "init_module delete_module get_kernel_syms query_module quotactl");
  add(180, "nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid");
  add(187, "readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr");
  add(194, "listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr");
  add(200, "tkill time futex sched_setaffinity sched_getaffinity set_thread_area");
  add(206, "io_setup io_destroy io_getevents io_submit io_cancel get_thread_area");
  add(212, "lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old");
  add(216, "remap_file_pages getdents64 set_tid_address restart_syscall semtimedop");
  add(221, "fadvise64 timer_create timer_settime timer_gettime timer_getoverrun");
  add(226, "timer_delete clock_settime clock_gettime clock_getres clock_nanosleep");
  add(231, "exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind");
  add(238, "set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend");
  add(243, "mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key");
  add(249, "request_key keyctl ioprio_set ioprio_get inotify_init inotify_add_watch");
  add(255, "inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat");
  add(261, "futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat");
  add(268, "fchmodat faccessat pselect6 ppoll unshare set_robust_list");
  add(274, "get_robust_list splice tee sync_file_range vmsplice move_pages");
  add(280, "utimensat epoll_pwait signalfd timerfd_create eventfd fallocate");
  add(286, "timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2");
  add(291, "epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo");
  add(298, "perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64");
  add(303, "name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns");
  add(309, "getcpu process_vm_readv process_vm_writev kcmp finit_module");
  add(314, "sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create");
  add(320, "kexec_file_load bpf execveat userfaultfd membarrier mlock2");
  add(326, "copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free");
  add(332, "statx io_pgetevents rseq");
  add(424, "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register");
  add(428, "open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3");
  add(436, "close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2");
  add(442, "mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule");
  add(446, "landlock_restrict_self memfd_secret process_mrelease futex_waitv");
  add(450, "set_mempolicy_home_node");
  add(335, "uretprobe uprobe");
  add(451, "cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue");
  add(457, "statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules");
  add(462, "mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr");
  add(468, "file_getattr file_setattr");
  return t;
})();
