/* Stand-in for the Windows CRT's <errno.h> (see check.sh). */
#pragma once
int *_errno(void);
#define errno (*_errno())
#define ENOMEM 12
#define EILSEQ 42
