/* Stand-in for the Windows CRT's <wchar.h>, only what pylstm uses (see check.sh). */
#pragma once
int _wremove(const unsigned short *);
