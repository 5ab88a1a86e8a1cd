/* Stand-in for the Windows CRT's <stdlib.h>, only what pylstm uses (see check.sh). */
#pragma once
#include <stddef.h>
void *malloc(size_t);
void *calloc(size_t, size_t);
void *realloc(void *, size_t);
void free(void *);
char *getenv(const char *);
void qsort(void *, size_t, size_t, int (*)(const void *, const void *));
void exit(int);
int abs(int);
int atoi(const char *);
long strtol(const char *, char **, int);
