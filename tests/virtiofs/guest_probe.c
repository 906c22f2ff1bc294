/* Runs inside the test guest (linked statically): the checks busybox has no
 * applet for. Usage:
 *   guest_probe xattr PATH NAME   prints the xattr value, or "ERRNO <n>"
 *   guest_probe listxattr PATH    prints the names, comma-separated
 *   guest_probe erofs DIR FILE    tries every kind of write; prints
 *                                 "op=<errno>" for each (0 = it succeeded)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int Errno(int rc) { return rc < 0 ? errno : 0; }

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "xattr") == 0) {
    char buf[256];
    ssize_t n = getxattr(argv[2], argv[3], buf, sizeof(buf) - 1);
    if (n < 0) {
      printf("ERRNO %d\n", errno);
      return 1;
    }
    buf[n] = 0;
    printf("%s\n", buf);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "listxattr") == 0) {
    char buf[1024];
    ssize_t n = listxattr(argv[2], buf, sizeof(buf));
    if (n < 0) {
      printf("ERRNO %d\n", errno);
      return 1;
    }
    for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) printf("%s%s", i ? "," : "", buf + i);
    printf("\n");
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "erofs") == 0) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/new-file", argv[2]);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    printf("create=%d", fd < 0 ? errno : 0);
    fd = open(argv[3], O_WRONLY);
    printf(" open_write=%d", fd < 0 ? errno : 0);
    snprintf(path, sizeof(path), "%s/new-dir", argv[2]);
    printf(" mkdir=%d", Errno(mkdir(path, 0755)));
    printf(" unlink=%d", Errno(unlink(argv[3])));
    printf(" truncate=%d", Errno(truncate(argv[3], 0)));
    printf(" chmod=%d", Errno(chmod(argv[3], 0777)));
    snprintf(path, sizeof(path), "%s/new-link", argv[2]);
    printf(" symlink=%d", Errno(symlink("x", path)));
    printf(" setxattr=%d\n", Errno(setxattr(argv[3], "user.x", "1", 1, 0)));
    return 0;
  }
  fprintf(stderr, "usage: guest_probe xattr|listxattr|erofs ...\n");
  return 2;
}
