/* Replacements for the x86-64 vDSO's clock reads, for faked time without a stop per read
 * (see sysemu/tools/time/inprocess.py). sysemu copies this blob into the free tail of the
 * program's vDSO at exec, fills the parameters, and points the vDSO's dynamic symbols at the
 * functions below; each calls the vDSO's own function, then maps the real time r of clock c
 * (in nanoseconds) to the virtual one, linearly:
 *
 *     v = r + a[c] + ((r - b[c]) * k[c]) >> 32
 *
 * (k: the rate minus 1, in 32.32 fixed point; -1.0 freezes the clock at a + b.) A clock whose
 * a and k are 0 is left as read. Assembled by scripts/gen_vdso_clock.py into
 * _vdso_clock_x86_64.py: edit this file, then run it. */
    .text
    .globl parameters
parameters:
real_clock_gettime: .quad 0     /* +0: the vDSO's own __vdso_clock_gettime */
real_gettimeofday:  .quad 0     /* +8: the vDSO's own __vdso_gettimeofday */
    .globl clock_table
clock_table:                    /* +16: (a, b, k) for clock ids 0-11, 24 bytes each */
table_here:
    .fill 36, 8, 0
    .p2align 4

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
    cmp $11, %ebx                   /* unsigned: the CPU clocks' negative ids are left too */
    ja 1f
    lea table_here(%rip), %rcx       /* (a local label: no relocation) */
    imul $24, %rbx, %rdx
    add %rdx, %rcx                  /* rcx: this clock's (a, b, k) */
    mov (%rcx), %rax
    or 16(%rcx), %rax
    jz 1f                           /* a = k = 0: as read */
    mov (%r12), %rax
    imul $1000000000, %rax, %rax
    add 8(%r12), %rax               /* r */
    mov 16(%rcx), %r9               /* k */
    test %r9, %r9
    jz 3f                           /* an offset alone: no multiply */
    mov %rax, %r8
    sub 8(%rcx), %rax               /* r - b */
    imul %r9                        /* rdx:rax = (r - b) * k */
    shrd $32, %rdx, %rax
    add %r8, %rax
3:  add (%rcx), %rax                /* v */
    test %rax, %rax
    js 5f
    mov %rax, %r8                   /* v / 1e9 by its reciprocal, as compilers divide */
    shr $9, %rax
    movabs $19342813113834067, %rdx
    mul %rdx
    shr $11, %rdx
    mov %rdx, (%r12)
    imul $1000000000, %rdx, %rdx
    sub %rdx, %r8
    mov %r8, 8(%r12)
    xor %eax, %eax
    jmp 1f
5:  cqo                             /* before 1970: a signed division */
    mov $1000000000, %r9
    idiv %r9
    test %rdx, %rdx
    jns 2f
    add %r9, %rdx
    dec %rax
2:  mov %rax, (%r12)
    mov %rdx, 8(%r12)
    xor %eax, %eax
1:  add $8, %rsp
    pop %r12
    pop %rbx
    ret

    .globl fake_gettimeofday
fake_gettimeofday:                  /* int (struct timeval *tv, struct timezone *tz) */
    push %rbx
    push %r12
    sub $24, %rsp                   /* a struct timespec, the stack aligned */
    mov %rdi, %rbx
    mov %rsi, %r12
    test %r12, %r12
    jz 2f
    xor %edi, %edi
    mov %r12, %rsi
    call *real_gettimeofday(%rip)   /* the zone, from the vDSO's own */
2:  xor %eax, %eax
    test %rbx, %rbx
    jz 1f
    xor %edi, %edi                  /* CLOCK_REALTIME */
    mov %rsp, %rsi
    call clock_gettime_here
    test %eax, %eax
    jnz 1f
    mov (%rsp), %rax
    mov %rax, (%rbx)
    mov 8(%rsp), %rax               /* nanoseconds / 1000, by the reciprocal */
    shr $3, %rax
    movabs $2361183241434822607, %rdx
    mul %rdx
    shr $4, %rdx
    mov %rdx, 8(%rbx)
    xor %eax, %eax
1:  add $24, %rsp
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
    call clock_gettime_here         /* (a local label: no relocation) */
    mov (%rsp), %rax
    test %rbx, %rbx
    jz 1f
    mov %rax, (%rbx)
1:  add $16, %rsp
    pop %rbx
    ret
