/* Test-only shim for Wine 8.0, which has no bcryptprimitives.dll: Rust's std (1.78+) imports
 * ProcessPrng from it for every random number (HashMap keys too), so no Rust .exe starts without
 * it. Built by .ci/wine-env.sh into a throw-away Wine prefix; NEVER shipped (Windows 10+ has the
 * real one). Forwards to RtlGenRandom (advapi32!SystemFunction036), Wine's CSPRNG. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Windows documents ProcessPrng as always returning TRUE; std aborts when it does not. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
