/* Stand-in for the Windows CRT's <time.h>: no POSIX clocks (see check.sh). */
#pragma once
typedef long long time_t;
typedef long clock_t;
#define CLOCKS_PER_SEC 1000
clock_t clock(void);
time_t time(time_t *);
