#include <git2.h>

// git_libgit2_opts is variadic, which Swift cannot call. Pushbox opens only repositories an administrator
// registered (`pushbox repo add`), often owned by another user (the git user) than the daemon (root, for
// the container engine), so libgit2's safe.directory-style owner check is turned off.
static inline int pushbox_git_disable_owner_validation(void) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
}
