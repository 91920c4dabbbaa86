// Compiler clones: a changed .isra clone and a changed .cold part make their
// callers/parents changed; the clones are carried without trampolines.
//#ExpectOutcome: payload
//#ExpectChanged: req_len.isra.* handle.cold handle handle2
//#ExpectSame: panic_at
//#ExpectPatched: handle handle2
//#ExpectCarried: req_len.isra.* handle.cold
//#ExpectString: "bad opcode"
extern void panic_at(const char *msg, int code) __attribute__((cold, noreturn));
void __attribute__((noinline)) panic_at(const char *msg, int code) { for (;;) __asm__ volatile("" :: "r"(msg), "r"(code)); }
struct req { int op; int len; char buf[64]; };
static int __attribute__((noinline)) req_len(struct req *r)
{
//- return r->len * 2 + 1;
//+ return r->len * 4 + 1;
}
int handle(struct req *r, int x)
{
//- if (__builtin_expect(r->op > 1000, 0)) { panic_at("bad op", r->op); }
//+ if (__builtin_expect(r->op > 1000, 0)) { panic_at("bad opcode", r->op); }
  if (x < 0) { panic_at("neg", x); }
  return req_len(r) + x;
}
int handle2(struct req *r) { return req_len(r) + 3; }
