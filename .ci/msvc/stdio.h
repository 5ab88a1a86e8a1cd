/* Stand-in for the Windows CRT's <stdio.h>, only what pylstm uses (see check.sh). */
#pragma once
#include <stdarg.h>
#include <stddef.h>
typedef struct _iobuf FILE;
FILE *__acrt_iob_func(unsigned);
#define stdout (__acrt_iob_func(1))
#define stderr (__acrt_iob_func(2))
FILE *fopen(const char *, const char *);
FILE *_wfopen(const unsigned short *, const unsigned short *); /* wchar_t is unsigned short */
size_t fread(void *, size_t, size_t, FILE *);
size_t fwrite(const void *, size_t, size_t, FILE *);
int fclose(FILE *);
int ferror(FILE *);
int fflush(FILE *);
int remove(const char *);
int printf(const char *, ...);
int fprintf(FILE *, const char *, ...);
int vprintf(const char *, va_list);
int vsnprintf(char *, size_t, const char *, va_list);
int sprintf(char *, const char *, ...);
int fscanf(FILE *, const char *, ...);
int sscanf(const char *, const char *, ...);
int snprintf(char *, size_t, const char *, ...);
int puts(const char *);
int putchar(int);
