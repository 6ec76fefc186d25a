// OpenBLAS CBLAS interface, its threading controls, and LAPACKE (used for SVD by EigenCAM).
#include <cblas.h>
#include <lapacke.h>
// OpenBLAS extensions (declared in cblas.h on Debian; repeated here for other layouts).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
// glibc allocator tuning (mallopt), used once by TensorCore so freed activations are reused.
#include <malloc.h>
