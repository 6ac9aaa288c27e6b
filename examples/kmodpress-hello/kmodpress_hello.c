// SPDX-License-Identifier: GPL-2.0
/*
 * kmodpress_hello: a small real out-of-tree module, the kind package managers build every day. It takes a
 * parameter, exports a symbol (so a second module can depend on it) and uses a few of vmlinux's exports, so its
 * __versions, .modinfo and (when signed) signature trailer are all real.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>

static char *greeting = "hello";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "what to say when loaded");

static char *copy;

int kmodpress_hello_count(void);

int kmodpress_hello_count(void)
{
	return copy ? (int)strlen(copy) : 0;
}
EXPORT_SYMBOL_GPL(kmodpress_hello_count);

static int __init kmodpress_hello_init(void)
{
	copy = kstrdup(greeting, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	pr_info("kmodpress_hello: %s\n", copy);
	return 0;
}

static void __exit kmodpress_hello_exit(void)
{
	pr_info("kmodpress_hello: goodbye\n");
	kfree(copy);
}

module_init(kmodpress_hello_init);
module_exit(kmodpress_hello_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodpress");
MODULE_DESCRIPTION("Example out-of-tree module compressed by kmodpress");
MODULE_VERSION("1.0");
