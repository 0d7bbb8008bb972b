/* Replacements for the x86-64 vDSO's realtime reads, for faked time without a stop per read
 * (see sysemu/tools/time/inprocess.py). sysemu copies this blob into the free tail of the program's vDSO at
 * exec, fills the parameters, and points the vDSO's dynamic symbols at the functions below;
 * each calls the vDSO's own function, then adds the offset. Assembled by
 * scripts/gen_vdso_clock.py into _vdso_clock_x86_64.py: edit this file, then run it. */
    .text
    .globl parameters
parameters:
real_clock_gettime: .quad 0     /* +0: the vDSO's own __vdso_clock_gettime */
real_gettimeofday:  .quad 0     /* +8: the vDSO's own __vdso_gettimeofday */
offset_sec:         .quad 0     /* +16: seconds added to the realtime clocks */
offset_nsec:        .quad 0     /* +24: and nanoseconds, 0 <= n < 1e9 */
offset_usec:        .quad 0     /* +32: the same in microseconds, for gettimeofday */
                    .quad 0, 0, 0

    .globl fake_clock_gettime
fake_clock_gettime:                 /* int (clockid_t clock, struct timespec *ts) */
clock_gettime_here:
    push %rbx
    push %r12
    sub $8, %rsp                    /* the stack 16-byte aligned at the call */
    mov %edi, %ebx
    mov %rsi, %r12
    call *real_clock_gettime(%rip)
    test %eax, %eax
    jnz 1f
    cmp $0, %ebx                    /* CLOCK_REALTIME, _COARSE, _ALARM, TAI: shifted */
    je 2f
    cmp $5, %ebx
    je 2f
    cmp $8, %ebx
    je 2f
    cmp $11, %ebx
    jne 1f
2:  mov offset_sec(%rip), %rcx
    add %rcx, (%r12)
    mov offset_nsec(%rip), %rcx
    add 8(%r12), %rcx
    cmp $1000000000, %rcx
    jl 3f
    sub $1000000000, %rcx
    incq (%r12)
3:  mov %rcx, 8(%r12)
1:  add $8, %rsp
    pop %r12
    pop %rbx
    ret

    .globl fake_gettimeofday
fake_gettimeofday:                  /* int (struct timeval *tv, struct timezone *tz) */
    push %rbx
    push %r12
    sub $8, %rsp
    mov %rdi, %rbx
    call *real_gettimeofday(%rip)
    test %eax, %eax
    jnz 1f
    test %rbx, %rbx
    jz 1f
    mov offset_sec(%rip), %rcx
    add %rcx, (%rbx)
    mov offset_usec(%rip), %rcx
    add 8(%rbx), %rcx
    cmp $1000000, %rcx
    jl 3f
    sub $1000000, %rcx
    incq (%rbx)
3:  mov %rcx, 8(%rbx)
1:  add $8, %rsp
    pop %r12
    pop %rbx
    ret

    .globl fake_time
fake_time:                          /* time_t (time_t *tloc) */
    push %rbx
    sub $16, %rsp                   /* a struct timespec, the stack aligned */
    mov %rdi, %rbx
    xor %edi, %edi
    mov %rsp, %rsi
    call clock_gettime_here          /* (a local label: no relocation) */
    mov (%rsp), %rax
    test %rbx, %rbx
    jz 1f
    mov %rax, (%rbx)
1:  add $16, %rsp
    pop %rbx
    ret
