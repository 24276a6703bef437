/* tmpdir_fixture.c — see tmpdir_fixture.h. */
#include "tmpdir_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char g_dir[64];

int tmpdir_make(const char *tag)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dfit-%s-XXXXXX", tag);
    return mkdtemp(g_dir) ? 0 : -1;
}

const char *tmp(const char *name)
{
    static char buf[8][384];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

void tmpdir_remove(void)
{
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlink(tmp(e->d_name));
        closedir(d);
    }
    rmdir(g_dir);
}
