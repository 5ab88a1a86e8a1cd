/* Stand-in for <windows.h>: only what pylstm uses, with the Windows SDK's
 * signatures (see check.sh). */
#pragma once
typedef long LONG;
typedef unsigned long DWORD, ULONG;
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef unsigned int UINT;
typedef void *HANDLE, *LPVOID;
typedef const char *LPCCH;
typedef unsigned short *LPWSTR;
typedef unsigned __int64 SIZE_T;
typedef union { struct { DWORD LowPart; LONG HighPart; } u; long long QuadPart; } LARGE_INTEGER;
typedef struct { void *Ptr; } SRWLOCK, *PSRWLOCK;
typedef struct { void *Ptr; } CONDITION_VARIABLE, *PCONDITION_VARIABLE;
#define SRWLOCK_INIT {0}
#define CONDITION_VARIABLE_INIT {0}
#define WINAPI __stdcall
#define INFINITE 0xFFFFFFFF
#define CP_UTF8 65001
#define MB_ERR_INVALID_CHARS 0x00000008
typedef DWORD(WINAPI *LPTHREAD_START_ROUTINE)(LPVOID);
void WINAPI AcquireSRWLockExclusive(PSRWLOCK);
void WINAPI ReleaseSRWLockExclusive(PSRWLOCK);
BOOLEAN WINAPI TryAcquireSRWLockExclusive(PSRWLOCK);
BOOL WINAPI SleepConditionVariableSRW(PCONDITION_VARIABLE, PSRWLOCK, DWORD, ULONG);
void WINAPI WakeAllConditionVariable(PCONDITION_VARIABLE);
void WINAPI WakeConditionVariable(PCONDITION_VARIABLE);
HANDLE WINAPI CreateThread(void *, SIZE_T, LPTHREAD_START_ROUTINE, LPVOID, DWORD, DWORD *);
DWORD WINAPI WaitForSingleObject(HANDLE, DWORD);
BOOL WINAPI CloseHandle(HANDLE);
BOOL WINAPI QueryPerformanceCounter(LARGE_INTEGER *);
BOOL WINAPI QueryPerformanceFrequency(LARGE_INTEGER *);
int WINAPI MultiByteToWideChar(UINT, DWORD, LPCCH, int, LPWSTR, int);
LONG _InterlockedCompareExchange(LONG volatile *, LONG, LONG);
LONG _InterlockedExchange(LONG volatile *, LONG);
LONG _InterlockedExchangeAdd(LONG volatile *, LONG);
#define InterlockedCompareExchange _InterlockedCompareExchange
#define InterlockedExchange _InterlockedExchange
#define InterlockedExchangeAdd _InterlockedExchangeAdd
#if defined(_M_ARM64)
void __yield(void);
#define YieldProcessor __yield
#else
void _mm_pause(void);
#define YieldProcessor _mm_pause
#endif
