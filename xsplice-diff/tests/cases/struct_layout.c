// A struct whose layout changes while existing code uses it is refused, naming the
// struct and where it is declared.
//#ExpectOutcome: refused
//#ExpectRefusal: StructLayout struct*dev struct_layout.c:7: struct dev*member count offset 4 → 8
//#ExpectRefusal: StructLayout struct*dev *uses it: dev_count, dev_id
//#ExpectRefusalCount: 1
struct dev {
  int id;
//+ int flags;
  int count;
};
__attribute__((noinline)) int dev_count(struct dev *d, int k) { return d->count * k + 17; }
__attribute__((noinline)) int dev_id(struct dev *d, int k) { return d->id * k + 19; }
