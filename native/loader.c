/*
 * kmodpress lab loader: loads a kernel module the way kmod >= 31 does, and nothing more.
 *
 *   loader FILE [params]   finit_module(fd, params, flags); flags = MODULE_INIT_COMPRESSED_FILE (4) when FILE
 *                          ends in .gz, .xz or .zst (the kernel decompresses it itself), else 0.
 *   loader -r NAME         delete_module(NAME, O_NONBLOCK)
 *
 * Prints exactly one parseable line on stdout:
 *   LOADER <file-or-name> rc=<0|-1> errno=<n> <strerror>
 * and exits 0 when the call succeeded, 1 when it failed, 2 on usage/open errors.
 * Built with `gcc -static -O2` by src/boot/loader.ts (ensureLoader, for `kmodpress verify --boot`) and by
 * test/lab/build-kernels.sh (the kernel lab); runs as PID-1's child in the boot check's initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int report(const char *what, long rc, int err)
{
	printf("LOADER %s rc=%ld errno=%d %s\n", what, rc, rc == 0 ? 0 : err, rc == 0 ? "Success" : strerror(err));
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "-r") == 0) {
		long rc = syscall(SYS_delete_module, argv[2], O_NONBLOCK);
		return report(argv[2], rc, errno);
	}
	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: loader FILE [params] | loader -r NAME\n");
		return 2;
	}
	const char *file = argv[1];
	const char *params = argc == 3 ? argv[2] : "";
	int flags = 0;
	if (ends_with(file, ".gz") || ends_with(file, ".xz") || ends_with(file, ".zst"))
		flags = MODULE_INIT_COMPRESSED_FILE;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		printf("LOADER %s rc=-1 errno=%d open: %s\n", file, err, strerror(err));
		fflush(stdout);
		return 2;
	}
	long rc = syscall(SYS_finit_module, fd, params, flags);
	int err = errno;
	close(fd);
	return report(file, rc, err);
}
