/* check_badinput.c - bad input never gives wrong data or loses data
 * (issue 2, item 10).  Each test damages a checkpoint saved by the library
 * (native layout over the posix store, in a fresh directory) or hands the
 * library hostile input, and asserts the exact status and the words of the
 * message that tell a user what went wrong and where. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckptio/ckptio.h"
#include "ckptio/plugin.h" /* CKPTIO_MD_ATTR_CHECKSUM */
#include "testutil.h"

static char *dir;  /* fresh per test */
static char *loc;  /* dir/ck: the checkpoint saved by the fixture */
static char *mdp;  /* dir/ck/.metadata.json */
static ckptio_ctx *ctx;

/* ------------------------------------------------------------------------ */
/* The model                                                                */

#define W_ROWS 200
#define W_COLS 128
#define E_ROWS 64
#define E_COLS 32

typedef struct model {
	float w[W_ROWS * W_COLS];      /* F32: most of the bytes */
	uint16_t emb[E_ROWS * E_COLS]; /* BF16 */
	int64_t ids[7 * 3 * 5];        /* I64 */
	char step[8];
} model;

static model orig; /* what the fixture saved */

static void model_fill(model *m, uint64_t seed)
{
	tu_fill(m->w, sizeof(m->w), seed);
	tu_fill(m->emb, sizeof(m->emb), seed + 1);
	tu_fill(m->ids, sizeof(m->ids), seed + 2);
	tu_fill(m->step, sizeof(m->step), seed + 3);
}

static ckptio_sd *model_sd(model *m)
{
	const uint64_t ws[2] = {W_ROWS, W_COLS}, es[2] = {E_ROWS, E_COLS};
	const uint64_t is[3] = {7, 3, 5};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.w", CKPTIO_F32, 2, ws,
					      NULL, NULL, m->w), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.emb", CKPTIO_BF16, 2,
					      es, NULL, NULL, m->emb),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "ids", CKPTIO_I64, 3, is,
					      NULL, NULL, m->ids), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "step", m->step,
					     sizeof(m->step)), CKPTIO_OK);
	return sd;
}

/* One writer thread: the fixture's checkpoint is a single data object,
 * items in the order above, so a byte offset names its item. */
static ckptio_status save_model(const char *where, model *m, uint32_t flags,
				ckptio_progress_fn progress, void *user)
{
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_sd *sd = model_sd(m);
	ckptio_status st;

	opts.flags = flags;
	opts.threads = 1;
	opts.progress = progress;
	opts.progress_user = user;
	st = ckptio_save(ctx, where, sd, &opts);
	ckptio_sd_free(sd);
	return st;
}

static ckptio_status load_model(const char *where, model *m, uint32_t flags)
{
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_sd *sd;
	ckptio_status st;

	memset(m, 0, sizeof(*m));
	sd = model_sd(m);
	opts.flags = flags;
	st = ckptio_load(ctx, where, sd, &opts);
	ckptio_sd_free(sd);
	return st;
}

static void expect_loads_as_orig(const char *where)
{
	static model back;

	ck_assert_msg(load_model(where, &back, 0) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(memcmp(&back, &orig, sizeof(orig)) == 0);
}

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                      */

static char *join(const char *a, const char *b)
{
	char *p;

	ck_assert_int_gt(asprintf(&p, "%s/%s", a, b), 0);
	return p;
}

static void setup(void)
{
	dir = tu_mkdtemp();
	loc = join(dir, "ck");
	mdp = join(loc, ".metadata.json");
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	model_fill(&orig, 7);
	ck_assert_msg(save_model(loc, &orig, 0, NULL, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	tu_rmrf(dir);
	free(dir);
	free(loc);
	free(mdp);
}

/* Sorted names in path joined by ';' (each followed by one), without . and
 * ..; "" when path is absent or empty. */
static char *listing(const char *path)
{
	struct dirent **ents;
	int n = scandir(path, &ents, NULL, alphasort);
	size_t cap = 1, len = 0;
	char *out;

	for (int i = 0; i < n; i++)
		cap += strlen(ents[i]->d_name) + 1;
	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
			len += (size_t)sprintf(out + len, "%s;", ents[i]->d_name);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	return out;
}

/* The fixture's only data object: its file name (malloc'd). */
static char *data_object(void)
{
	char *names = listing(loc), *save = NULL, *found = NULL;

	for (char *n = strtok_r(names, ";", &save); n;
	     n = strtok_r(NULL, ";", &save)) {
		size_t len = strlen(n);

		if (strncmp(n, "__", 2) == 0 && len > 4 &&
		    strcmp(n + len - 4, ".ckd") == 0) {
			ck_assert_msg(!found, "two data objects: %s and %s",
				      found, n);
			found = strdup(n);
		}
	}
	ck_assert_msg(found != NULL, "no data object in %s", loc);
	free(names);
	return found;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	ck_assert_msg(stat(path, &sb) == 0, "stat %s: %s", path,
		      strerror(errno));
	return sb.st_size;
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* path is absent, or a directory with nothing in it. */
static int absent_or_empty(const char *path)
{
	char *names = listing(path);
	int empty = names[0] == '\0';

	free(names);
	return empty;
}

/* st from a call on ctx, with every needle in its message. */
#define expect_err(call, want, ...)                                          \
	do {                                                                 \
		ckptio_status st_ = (call);                                  \
		const char *needles_[] = {__VA_ARGS__, NULL};                \
		ck_assert_msg(st_ == (want), "%s: %s (%s), want %s", #call,  \
			      ckptio_strerror(st_), ckptio_errmsg(ctx),      \
			      ckptio_strerror(want));                        \
		for (const char **n_ = needles_; *n_; n_++)                  \
			ck_assert_msg(strstr(ckptio_errmsg(ctx), *n_),       \
				      "%s: message '%s' lacks '%s'", #call,  \
				      ckptio_errmsg(ctx), *n_);              \
	} while (0)

static ckptio_status do_open(const char *where)
{
	ckptio_ckpt *ck = NULL;
	ckptio_status st = ckptio_open(ctx, where, &ck);

	ckptio_ckpt_close(ck);
	return st;
}

static ckptio_status do_load(void)
{
	static model back;

	return load_model(loc, &back, 0);
}

/* Rewrite the metadata through fn (a jansson edit of the parsed JSON). */
static void edit_metadata(void (*fn)(json_t *root, void *arg), void *arg)
{
	json_error_t jerr;
	json_t *root = json_load_file(mdp, 0, &jerr);

	ck_assert_msg(root != NULL, "%s: %s", mdp, jerr.text);
	fn(root, arg);
	ck_assert_int_eq(json_dump_file(root, mdp, JSON_COMPACT), 0);
	json_decref(root);
}

/* The elements of an item and of a chunk in the metadata (version 2,
 * docs/metadata.md): [name, dtype, shape, chunks] and [object, offset,
 * length, crc32c (, offsets, shape)]. */
enum { MD_NAME = 0, MD_CHUNKS = 3 };
enum { MD_OBJECT = 0, MD_OFFSET = 1, MD_LENGTH = 2, MD_CRC = 3 };

/* Item `name` of the parsed metadata. */
static json_t *md_item(json_t *root, const char *name)
{
	json_t *items = json_object_get(root, "items"), *it;
	size_t i;

	json_array_foreach(items, i, it) {
		if (strcmp(json_string_value(json_array_get(it, MD_NAME)),
			   name) == 0)
			return it;
	}
	ck_abort_msg("no item %s in the metadata", name);
	return NULL;
}

static json_t *md_chunk0(json_t *root, const char *name)
{
	return json_array_get(json_array_get(md_item(root, name), MD_CHUNKS),
			      0);
}

/* The name of the object that item `name`'s first chunk is in. */
static const char *md_object0(json_t *root, const char *name)
{
	json_t *index = json_array_get(md_chunk0(root, name), MD_OBJECT);

	return json_string_value(
		json_array_get(json_object_get(root, "objects"),
			       (size_t)json_integer_value(index)));
}

/* Replace every occurrence of from by to in the file at path. */
static void replace_in_file(const char *path, const char *from,
			    const char *to)
{
	size_t len, flen = strlen(from), tlen = strlen(to), n = 0;
	char *text = tu_read_file(path, &len), *out, *o;
	const char *p;

	ck_assert_ptr_nonnull(text);
	for (p = text; (p = strstr(p, from)); p += flen)
		n++;
	ck_assert_msg(n > 0, "%s: no '%s' to replace", path, from);
	out = malloc(len + n * (tlen > flen ? tlen - flen : 0) + 1);
	ck_assert_ptr_nonnull(out);
	o = out;
	for (p = text;;) {
		const char *q = strstr(p, from);

		if (!q) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tlen);
		o += tlen;
		p = q + flen;
	}
	ck_assert_int_eq(tu_write_file(path, out, strlen(out)), 0);
	free(text);
	free(out);
}

static void expect_open_load_verify(ckptio_status want, const char *n1,
				    const char *n2)
{
	expect_err(do_open(loc), want, n1, n2);
	expect_err(do_load(), want, n1, n2);
	expect_err(ckptio_verify(ctx, loc, NULL), want, n1, n2);
}

/* ------------------------------------------------------------------------ */
/* (a)-(c) metadata: corrupt, truncated, missing                            */

START_TEST(test_corrupt_metadata)
{
	const char junk[] = "this is not JSON {\"format\": ckptio";

	ck_assert_int_eq(tu_write_file(mdp, junk, sizeof(junk) - 1), 0);
	expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json",
				"malformed JSON");
}
END_TEST

/* Valid JSON of the wrong shape is as corrupt as broken JSON. */
START_TEST(test_metadata_of_wrong_shape)
{
	const char *docs[] = {
		"[]", "{}", "{\"format\":\"ckptio\",\"version\":1}",
		"{\"format\":\"ckptio\",\"version\":1,\"world\":1,\"items\":7}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		ck_assert_int_eq(tu_write_file(mdp, docs[i], strlen(docs[i])),
				 0);
		expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json",
					".metadata.json");
	}
}
END_TEST

START_TEST(test_truncated_metadata)
{
	ck_assert_int_eq(truncate(mdp, file_size(mdp) / 2), 0);
	expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json",
				"malformed JSON");
	ck_assert_int_eq(truncate(mdp, 0), 0);
	expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json",
				".metadata.json");
}
END_TEST

static int list_cb(void *user, const char *id)
{
	char *buf = user;

	strncat(buf, id, 255 - strlen(buf));
	strncat(buf, ";", 255 - strlen(buf));
	return 0;
}

START_TEST(test_missing_metadata)
{
	char listed[256] = "";

	ck_assert_int_eq(ckptio_list(ctx, dir, list_cb, listed), CKPTIO_OK);
	ck_assert_str_eq(listed, "ck;");
	ck_assert_int_eq(unlink(mdp), 0);
	expect_open_load_verify(CKPTIO_ENOTFOUND, "does not exist",
				".metadata.json");
	listed[0] = '\0';
	ck_assert_msg(ckptio_list(ctx, dir, list_cb, listed) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_str_eq(listed, "");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (d)-(e) data objects: truncated, one bit flipped                         */

START_TEST(test_truncated_data_object)
{
	char *obj = data_object(), *path = join(loc, obj);

	ck_assert_int_eq(truncate(path, file_size(path) - 100), 0);
	/* The metadata is intact: the checkpoint still opens. */
	ck_assert_int_eq(do_open(loc), CKPTIO_OK);
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, obj);
	expect_err(do_load(), CKPTIO_ECORRUPT, obj);
	free(obj);
	free(path);
}
END_TEST

START_TEST(test_flipped_bit)
{
	char *obj = data_object(), *path = join(loc, obj);
	off_t mid = file_size(path) / 2;
	static model back;
	const unsigned char *a = (const unsigned char *)orig.w;
	const unsigned char *b = (const unsigned char *)back.w;
	size_t ndiff = 0, at = 0;

	/* The object holds model.w first, and it is most of the bytes. */
	ck_assert_int_lt(mid, (off_t)sizeof(orig.w));
	tu_flip_bit(path, (uint64_t)mid, 3);
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, "model.w",
		   obj, "CRC32C");
	expect_err(load_model(loc, &back, 0), CKPTIO_ECORRUPT, "model.w", obj,
		   "CRC32C");
	/* Without the check the load succeeds, and the data is wrong in
	 * exactly the flipped bit: the CRC is what caught it. */
	ck_assert_msg(load_model(loc, &back, CKPTIO_LOAD_NO_VERIFY) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	for (size_t i = 0; i < sizeof(orig.w); i++)
		if (a[i] != b[i]) {
			ndiff++;
			at = i;
		}
	ck_assert_uint_eq(ndiff, 1);
	ck_assert_uint_eq(at, (size_t)mid);
	ck_assert_int_eq(a[at] ^ b[at], 1 << 3);
	ck_assert(memcmp(back.emb, orig.emb, sizeof(orig.emb)) == 0);
	ck_assert(memcmp(back.ids, orig.ids, sizeof(orig.ids)) == 0);
	free(obj);
	free(path);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Links and special files in a checkpoint (issue 7, items 6 and 7)         */

static ckptio_status do_copy(void)
{
	char *dst = join(dir, "copy");
	ckptio_status st = ckptio_copy(ctx, loc, dst, NULL);

	/* A refused copy leaves no checkpoint behind. */
	if (st != CKPTIO_OK)
		ck_assert(absent_or_empty(dst));
	free(dst);
	return st;
}

/* A data object that is a link to a file outside the store root is not
 * read, even when what it points to is the intact object. */
START_TEST(test_linked_data_object)
{
	char *obj = data_object(), *path = join(loc, obj), *out = tu_mkdtemp();
	char *moved = join(out, obj);

	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(symlink(moved, path), 0);
	expect_err(do_load(), CKPTIO_ECORRUPT, obj, "symbolic link");
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, obj,
		   "symbolic link");
	expect_err(do_copy(), CKPTIO_ECORRUPT, obj, "symbolic link");
	tu_rmrf(out);
	free(out);
	free(moved);
	free(path);
	free(obj);
}
END_TEST

/* A linked metadata object makes no checkpoint: not listed, not opened. */
START_TEST(test_linked_metadata)
{
	char *out = tu_mkdtemp(), *moved = join(out, "md.json");
	char listed[256] = "";

	ck_assert_int_eq(rename(mdp, moved), 0);
	ck_assert_int_eq(symlink(moved, mdp), 0);
	expect_open_load_verify(CKPTIO_ECORRUPT, "ck/.metadata.json: ",
				"symbolic link");
	expect_err(do_copy(), CKPTIO_ECORRUPT, ".metadata.json",
		   "symbolic link");
	ck_assert_int_eq(ckptio_list(ctx, dir, list_cb, listed), CKPTIO_OK);
	ck_assert_str_eq(listed, "");
	tu_rmrf(out);
	free(out);
	free(moved);
}
END_TEST

static char *write_conf(const char *text);

/* A linked directory in the checkpoint's path below the store root: the
 * checkpoint behind it is not read, and no save goes through it.  A plain
 * path is the user's own: links in it are followed. */
START_TEST(test_linked_directory_in_path)
{
	char *out = tu_mkdtemp(), *root = join(dir, "root"), *text, *conf;
	char *moved = join(out, "ck"), *alink = join(root, "a");
	char *plain = join(dir, "latest");
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_sd *sd;
	model m;

	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(rename(loc, moved), 0);
	ck_assert_int_eq(symlink(out, alink), 0);
	ck_assert_int_eq(symlink(moved, plain), 0);
	ck_assert_int_gt(asprintf(&text, "[backend \"p\"]\nstore = posix\n"
					 "root = %s\n", root), 0);
	conf = write_conf(text);
	ckptio_ctx_free(ctx);
	ck_assert_msg(ckptio_ctx_new(&ctx, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	expect_err(do_open("p:a/ck"), CKPTIO_ECORRUPT, "a/ck/.metadata.json: ",
		   "symbolic link");
	expect_err(load_model("p:a/ck", &m, 0), CKPTIO_ECORRUPT,
		   "a/ck/.metadata.json: ", "symbolic link");
	expect_err(ckptio_verify(ctx, "p:a/ck", NULL), CKPTIO_ECORRUPT,
		   "a/ck/.metadata.json: ", "symbolic link");
	model_fill(&m, 3);
	sd = model_sd(&m);
	expect_err(save_model("p:a/new", &m, 0, NULL, NULL), CKPTIO_ECORRUPT,
		   "a/new/", "symbolic link");
	opts.flags = CKPTIO_SAVE_OVERWRITE; /* no existence check first */
	expect_err(ckptio_save(ctx, "p:a/new", sd, &opts), CKPTIO_ECORRUPT,
		   "a/new/", "symbolic link");
	free(text);
	text = listing(out);
	ck_assert_str_eq(text, "ck;"); /* nothing written through the link */
	ckptio_sd_free(sd);
	/* A path the user names is theirs: its links are followed (a
	 * `latest` link to a checkpoint works), and so is the target named
	 * directly.  Only links below the checkpoint are refused. */
	ck_assert_msg(do_open(plain) == CKPTIO_OK, "%s", ckptio_errmsg(ctx));
	ck_assert_msg(ckptio_verify(ctx, plain, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_msg(do_open(moved) == CKPTIO_OK, "%s", ckptio_errmsg(ctx));
	tu_rmrf(out);
	free(out);
	free(text);
	free(conf);
	free(root);
	free(moved);
	free(alink);
	free(plain);
}
END_TEST

/* A FIFO as a data object used to hang verify, cp and load forever. */
START_TEST(test_fifo_data_object)
{
	char *obj = data_object(), *path = join(loc, obj);

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	expect_err(do_load(), CKPTIO_ECORRUPT, obj,
		   "not a regular file (a FIFO)");
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, obj,
		   "not a regular file (a FIFO)");
	expect_err(do_copy(), CKPTIO_ECORRUPT, obj,
		   "not a regular file (a FIFO)");
	free(path);
	free(obj);
}
END_TEST

START_TEST(test_fifo_metadata)
{
	ck_assert_int_eq(unlink(mdp), 0);
	ck_assert_int_eq(mkfifo(mdp, 0644), 0);
	expect_open_load_verify(CKPTIO_ECORRUPT, "ck/.metadata.json: ",
				"not a regular file (a FIFO)");
	expect_err(do_copy(), CKPTIO_ECORRUPT, ".metadata.json",
		   "not a regular file (a FIFO)");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Checksums: one rule for every reader (issue 7, items 5 and 12)           */

static void drop_crc(json_t *root, void *arg)
{
	json_array_set_new(md_chunk0(root, arg), MD_CRC, json_null());
}

static void set_attr(json_t *root, void *arg)
{
	const char *const *kv = arg;
	json_t *attrs = json_object_get(root, "attrs");

	json_object_set_new(attrs, kv[0], json_string(kv[1]));
}

/* The native layout writes a CRC32C for every chunk: one stripped from the
 * metadata (to slip altered data past the check) is refused at open. */
START_TEST(test_chunk_without_crc)
{
	edit_metadata(drop_crc, "ids");
	expect_open_load_verify(CKPTIO_ECORRUPT, "ck/.metadata.json: item "
				"'ids', chunk 0 (object '", "has no crc32c");
	expect_err(do_copy(), CKPTIO_ECORRUPT, "item 'ids', chunk 0",
		   "has no crc32c");
}
END_TEST

/* A layout that keeps no checksums says so: its chunks load and copy on
 * trust, and verify reads them all but will not call them verified. */
START_TEST(test_layout_without_checksums)
{
	const char *none[2] = {CKPTIO_MD_ATTR_CHECKSUM, "none"};
	const char *odd[2] = {CKPTIO_MD_ATTR_CHECKSUM, "sha3"};
	char *copy = join(dir, "copy");

	edit_metadata(drop_crc, "ids");
	edit_metadata(drop_crc, "step");
	edit_metadata(set_attr, (void *)none);
	ck_assert_msg(do_open(loc) == CKPTIO_OK, "%s", ckptio_errmsg(ctx));
	expect_loads_as_orig(loc);
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_EUNSUPPORTED,
		   "2 of 4 chunks have no checksum", "cannot be verified");
	/* The copy is native again: every chunk has its CRC32C. */
	ck_assert_msg(ckptio_copy(ctx, loc, copy, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_msg(ckptio_verify(ctx, copy, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	expect_loads_as_orig(copy);
	/* A checksum this version does not know is not skipped silently. */
	edit_metadata(set_attr, (void *)odd);
	expect_open_load_verify(CKPTIO_EUNSUPPORTED, "checksum 'sha3'",
				".metadata.json");
	free(copy);
}
END_TEST

static void set_crc(json_t *root, void *arg)
{
	json_array_set_new(md_chunk0(root, arg), MD_CRC, json_integer(1));
}

/* An empty chunk's CRC32C is that of no bytes, 0: verify refused another
 * value, load and cp did not (they read nothing).  Now all refuse it. */
START_TEST(test_empty_chunk_crc)
{
	const uint64_t zshape[2] = {0, 4}, one[1] = {1};
	const char *items[2] = {"zero", "empty"};
	uint32_t x = 7, xb;
	ckptio_sd *sd;
	char *md0;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "zero", CKPTIO_F32, 2, zshape,
					      NULL, NULL, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "empty", NULL, 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "x", CKPTIO_U32, 1, one, NULL,
					      NULL, &x), CKPTIO_OK);
	ck_assert_int_eq(ckptio_remove(ctx, loc, 0), CKPTIO_OK);
	ck_assert_msg(ckptio_save(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	md0 = tu_read_file(mdp, NULL);
	ck_assert_ptr_nonnull(md0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(tu_write_file(mdp, md0, strlen(md0)), 0);
		edit_metadata(set_crc, (void *)items[i]);
		ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, "zero", CKPTIO_F32, 2,
						      zshape, NULL, NULL, NULL),
				 CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_bytes(sd, "empty", NULL, 0),
				 CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, "x", CKPTIO_U32, 1,
						      one, NULL, NULL, &xb),
				 CKPTIO_OK);
		expect_err(ckptio_load(ctx, loc, sd, NULL), CKPTIO_ECORRUPT,
			   items[i], "must be 00000000, not 00000001");
		ckptio_sd_free(sd);
		expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT,
			   items[i], "must be 00000000, not 00000001");
		expect_err(do_copy(), CKPTIO_ECORRUPT, items[i],
			   "must be 00000000, not 00000001");
	}
	free(md0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* One item per message (issue 7, item 13)                                  */

/* Two items in two data objects (two writer threads). */
static char *two_objects(char **obj_a, char **obj_b)
{
	static float a[8192], b[8192];
	const uint64_t shape[1] = {8192};
	char *where = join(dir, "two"), *md = join(where, ".metadata.json");
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	json_error_t jerr;
	json_t *root;
	ckptio_sd *sd;

	tu_fill(a, sizeof(a), 1);
	tu_fill(b, sizeof(b), 2);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "alpha", CKPTIO_F32, 1, shape,
					      NULL, NULL, a), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "beta", CKPTIO_F32, 1, shape,
					      NULL, NULL, b), CKPTIO_OK);
	opts.threads = 2;
	ck_assert_msg(ckptio_save(ctx, where, sd, &opts) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	root = json_load_file(md, 0, &jerr);
	ck_assert_ptr_nonnull(root);
	*obj_a = strdup(md_object0(root, "alpha"));
	*obj_b = strdup(md_object0(root, "beta"));
	json_decref(root);
	ck_assert_str_ne(*obj_a, *obj_b);
	free(md);
	return where;
}

/* The message names exactly one item, and that item's own object. */
static void expect_one_item(ckptio_status got, ckptio_status want,
			    const char *obj_a, const char *obj_b)
{
	const char *msg = ckptio_errmsg(ctx), *p = strstr(msg, "item '");
	int n = 0;

	ck_assert_msg(got == want, "%s: %s", ckptio_strerror(got), msg);
	for (const char *q = p; q; q = strstr(q + 1, "item '"))
		n++;
	ck_assert_msg(n == 1, "'%s' names %d items", msg, n);
	if (strncmp(p, "item 'alpha'", 12) == 0)
		ck_assert_msg(strstr(msg, obj_a) && !strstr(msg, obj_b), "%s",
			      msg);
	else
		ck_assert_msg(strncmp(p, "item 'beta'", 11) == 0 &&
				      strstr(msg, obj_b) && !strstr(msg, obj_a),
			      "%s", msg);
}

/* Both halves of both tensors: every requested box straddles no saved
 * chunk boundary, so the load reshards, both chunks in one batch. */
static ckptio_status load_halves(const char *where)
{
	static float a[4096], b[4096];
	const uint64_t shape[1] = {8192}, off[1] = {0}, half[1] = {4096};
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_status st;
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "alpha", CKPTIO_F32, 1, shape,
					      off, half, a), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "beta", CKPTIO_F32, 1, shape,
					      off, half, b), CKPTIO_OK);
	opts.threads = 2;
	st = ckptio_load(ctx, where, sd, &opts);
	ckptio_sd_free(sd);
	return st;
}

static ckptio_status load_both(const char *where)
{
	static float a[8192], b[8192];
	const uint64_t shape[1] = {8192};
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_status st;
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "alpha", CKPTIO_F32, 1, shape,
					      NULL, NULL, a), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "beta", CKPTIO_F32, 1, shape,
					      NULL, NULL, b), CKPTIO_OK);
	opts.threads = 2;
	st = ckptio_load(ctx, where, sd, &opts);
	ckptio_sd_free(sd);
	return st;
}

static void expect_one_item_everywhere(const char *where, ckptio_status want,
				       const char *obj_a, const char *obj_b)
{
	char *dst = join(dir, "copy");
	ckptio_opts opts = CKPTIO_OPTS_INIT;

	opts.threads = 2;
	expect_one_item(load_both(where), want, obj_a, obj_b);
	expect_one_item(load_halves(where), want, obj_a, obj_b);
	expect_one_item(ckptio_verify(ctx, where, &opts), want, obj_a, obj_b);
	expect_one_item(ckptio_copy(ctx, where, dst, &opts), want, obj_a,
			obj_b);
	free(dst);
}

START_TEST(test_two_failures_one_item)
{
	char *obj_a, *obj_b, *where = two_objects(&obj_a, &obj_b);
	char *pa = join(where, obj_a), *pb = join(where, obj_b);

	ck_assert_int_eq(truncate(pa, 100), 0);
	ck_assert_int_eq(truncate(pb, 100), 0);
	expect_one_item_everywhere(where, CKPTIO_ECORRUPT, obj_a, obj_b);
	ck_assert_int_eq(unlink(pa), 0);
	ck_assert_int_eq(unlink(pb), 0);
	expect_one_item_everywhere(where, CKPTIO_ENOTFOUND, obj_a, obj_b);
	free(pa);
	free(pb);
	free(obj_a);
	free(obj_b);
	free(where);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (f) hostile item names                                                   */

#define NHOSTILE 13

START_TEST(test_hostile_names)
{
	static char longname[CKPTIO_MAX_NAME + 1];
	const char *names[NHOSTILE] = {
		"../x", "/etc/ckptio-hostile", "a/../../b", "..", ".",
		".metadata.json", "__0_0.0.ckd", "with space\tand tab",
		"\xe6\xa8\xa1\xe5\x9e\x8b.\xc3\xbc\xc3\xb1\xc3\xaf", /* UTF-8 */
		"quote\" back\\slash {}[],:", "%s%n%x", "new\nline", longname,
	};
	char *hdir = join(dir, "h"), *hloc = join(hdir, "ck"), *before, *after;
	char *parent_copy = strdup(dir), *parent = dirname(parent_copy);
	char *px = join(parent, "x"), *pb = join(parent, "b");
	int had_px = exists(px), had_pb = exists(pb);
	uint32_t vals[NHOSTILE], back[NHOSTILE];
	const uint64_t one[1] = {1};
	ckptio_ckpt *ck;
	ckptio_sd *sd;

	/* 4096 bytes of "../../..": the longest name allowed. */
	for (size_t i = 0; i < CKPTIO_MAX_NAME; i++)
		longname[i] = "../"[i % 3];
	longname[CKPTIO_MAX_NAME - 1] = 'z';
	ck_assert_int_eq(mkdir(hdir, 0755), 0);
	before = listing(dir);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (int i = 0; i < NHOSTILE; i++) {
		vals[i] = 0xc0de0000u + (uint32_t)i;
		ck_assert_msg(ckptio_sd_add_tensor(sd, names[i], CKPTIO_U32, 1,
						   one, NULL, NULL,
						   &vals[i]) == CKPTIO_OK,
			      "%s: %s", names[i], ckptio_last_error());
	}
	ck_assert_msg(ckptio_save(ctx, hloc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);

	/* Nothing outside the checkpoint directory. */
	after = listing(dir);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	after = listing(hdir);
	ck_assert_str_eq(after, "ck;");
	free(after);
	ck_assert(!exists("/etc/ckptio-hostile"));
	ck_assert_int_eq(exists(px), had_px);
	ck_assert_int_eq(exists(pb), had_pb);
	{
		char *names_in = listing(hloc), *save = NULL;

		for (char *n = strtok_r(names_in, ";", &save); n;
		     n = strtok_r(NULL, ";", &save)) {
			size_t len = strlen(n);

			ck_assert_msg(strcmp(n, ".metadata.json") == 0 ||
					      (strncmp(n, "__", 2) == 0 &&
					       len > 4 &&
					       strcmp(n + len - 4, ".ckd") == 0),
				      "unexpected %s in the checkpoint", n);
		}
		free(names_in);
	}

	/* Every name comes back byte for byte, with its value. */
	ck_assert_msg(ckptio_open(ctx, hloc, &ck) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_uint_eq(ckptio_ckpt_count(ck), NHOSTILE);
	for (int i = 0; i < NHOSTILE; i++)
		ck_assert_msg(ckptio_ckpt_find(ck, names[i]) != (size_t)-1,
			      "name %.40s lost", names[i]);
	ckptio_ckpt_close(ck);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (int i = 0; i < NHOSTILE; i++) {
		back[i] = 0;
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, names[i], CKPTIO_U32,
						      1, one, NULL, NULL,
						      &back[i]), CKPTIO_OK);
	}
	ck_assert_msg(ckptio_load(ctx, hloc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	for (int i = 0; i < NHOSTILE; i++)
		ck_assert_msg(back[i] == vals[i], "%.40s: %#x", names[i],
			      back[i]);
	ck_assert_int_eq(ckptio_verify(ctx, hloc, NULL), CKPTIO_OK);
	free(hdir);
	free(hloc);
	free(parent_copy);
	free(px);
	free(pb);
}
END_TEST

START_TEST(test_rejected_names)
{
	static char big[10 * 1024 + 1];
	static char over[CKPTIO_MAX_NAME + 2];
	const uint64_t one[1] = {1};
	uint32_t v = 1;
	ckptio_sd *sd;

	memset(big, 'n', sizeof(big) - 1);
	memset(over, 'o', sizeof(over) - 1);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "", CKPTIO_U32, 1, one, NULL,
					      NULL, &v), CKPTIO_EINVAL);
	ck_assert_msg(strstr(ckptio_last_error(), "empty"), "'%s'",
		      ckptio_last_error());
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, big, CKPTIO_U32, 1, one, NULL,
					      NULL, &v), CKPTIO_EINVAL);
	ck_assert_msg(strstr(ckptio_last_error(), "10240 bytes") &&
			      strstr(ckptio_last_error(), "4096"),
		      "'%s'", ckptio_last_error());
	/* The message quotes a prefix of the name, never all 10 KB. */
	ck_assert_uint_lt(strlen(ckptio_last_error()), 512);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, over, CKPTIO_U32, 1, one,
					      NULL, NULL, &v), CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "", &v, sizeof(v)),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, big, &v, sizeof(v)),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "ok", CKPTIO_U32, 1, one,
					      NULL, NULL, &v), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "ok", CKPTIO_U32, 1, one,
					      NULL, NULL, &v), CKPTIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(ckptio_last_error(), "'ok'"));
	ck_assert_uint_eq(ckptio_sd_count(sd), 1);
	ckptio_sd_free(sd);
}
END_TEST

/* Names that an API caller cannot produce may still arrive in a file. */
static void set_name_with_nul(json_t *root, void *arg)
{
	(void)arg;
	json_array_set_new(md_item(root, "step"), MD_NAME,
			   json_stringn("st\0ep", 5));
}

START_TEST(test_metadata_name_with_nul)
{
	edit_metadata(set_name_with_nul, NULL);
	expect_err(do_open(loc), CKPTIO_ECORRUPT, ".metadata.json", "NUL");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (g) hostile metadata                                                     */

START_TEST(test_metadata_object_outside)
{
	char *obj = data_object(), *victim = join(dir, "victim");
	const char vtext[] = "the victim's precious bytes";
	const char *evil[] = {"../victim", "/etc/passwd", "a/../../victim",
			      "./../victim"};
	char *orig_md = tu_read_file(mdp, NULL), *v;
	size_t vlen;

	ck_assert_ptr_nonnull(orig_md);
	ck_assert_int_eq(tu_write_file(victim, vtext, sizeof(vtext) - 1), 0);
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		ck_assert_int_eq(tu_write_file(mdp, orig_md, strlen(orig_md)),
				 0);
		replace_in_file(mdp, obj, evil[i]);
		expect_err(do_load(), CKPTIO_ECORRUPT, "invalid object name",
			   evil[i]);
		expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT,
			   "invalid object name");
		expect_err(do_open(loc), CKPTIO_ECORRUPT, ".metadata.json");
	}
	/* Removing the damaged checkpoint stays inside it too. */
	ck_assert_msg(ckptio_remove(ctx, loc, 0) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(absent_or_empty(loc));
	v = tu_read_file(victim, &vlen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(vlen, sizeof(vtext) - 1);
	ck_assert_str_eq(v, vtext);
	free(v);
	free(orig_md);
	free(obj);
	free(victim);
}
END_TEST

/* A bytes item whose recorded length runs past the end of its object. */
static void grow_step(json_t *root, void *arg)
{
	(void)arg;
	json_array_set_new(md_chunk0(root, "step"), MD_LENGTH,
			   json_integer(1 << 20));
}

/* A tensor chunk that starts past the end of its object. */
static void move_ids(json_t *root, void *arg)
{
	(void)arg;
	json_array_set_new(md_chunk0(root, "ids"), MD_OFFSET,
			   json_integer(1 << 20));
}

START_TEST(test_chunk_past_object_end)
{
	char *obj = data_object();
	char *orig_md = tu_read_file(mdp, NULL);

	edit_metadata(grow_step, NULL);
	ck_assert_int_eq(do_open(loc), CKPTIO_OK);
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, obj);
	ck_assert_int_eq(tu_write_file(mdp, orig_md, strlen(orig_md)), 0);
	edit_metadata(move_ids, NULL);
	expect_err(do_load(), CKPTIO_ECORRUPT, obj);
	expect_err(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT, obj);
	free(orig_md);
	free(obj);
}
END_TEST

/* A chunk whose length disagrees with its shape is caught on open. */
static void shrink_w(json_t *root, void *arg)
{
	(void)arg;
	json_array_set_new(md_chunk0(root, "model.w"), MD_LENGTH,
			   json_integer(4));
}

START_TEST(test_chunk_length_mismatch)
{
	edit_metadata(shrink_w, NULL);
	expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json", "model.w");
}
END_TEST

START_TEST(test_huge_metadata)
{
	struct rusage ru0, ru1;
	int fd = open(mdp, O_WRONLY | O_TRUNC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)300 << 20), 0);
	ck_assert_int_eq(close(fd), 0);
	getrusage(RUSAGE_SELF, &ru0);
	expect_open_load_verify(CKPTIO_ECORRUPT, ".metadata.json",
				"larger than");
	getrusage(RUSAGE_SELF, &ru1);
	/* Refused by its size: 300 MiB were never read into memory. */
	ck_assert_int_lt(ru1.ru_maxrss - ru0.ru_maxrss, 64 * 1024);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (h) configuration errors                                                 */

static char *write_conf(const char *text)
{
	char *conf = join(dir, "ckptio.conf");

	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	return conf;
}

START_TEST(test_config_unknown_key)
{
	char *conf = write_conf("[ckptio]\nlog_level = warn\nfrobnicate = 1\n");
	char want[1024];
	ckptio_ctx *c = (ckptio_ctx *)(uintptr_t)1; /* must become NULL */

	snprintf(want, sizeof(want), "%s:3: frobnicate", conf);
	ck_assert_int_eq(ckptio_ctx_new(&c, conf), CKPTIO_ECONFIG);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(ckptio_last_error(), want), "'%s' lacks '%s'",
		      ckptio_last_error(), want);
	free(conf);
}
END_TEST

START_TEST(test_config_bad_value)
{
	char *conf = write_conf("[backend \"b\"]\nstore = posix\n"
				"threads = lots\n");
	char want[1024];
	ckptio_ctx *c;

	snprintf(want, sizeof(want), "%s:3: threads", conf);
	ck_assert_int_eq(ckptio_ctx_new(&c, conf), CKPTIO_ECONFIG);
	ck_assert_msg(strstr(ckptio_last_error(), want), "'%s' lacks '%s'",
		      ckptio_last_error(), want);
	free(conf);
}
END_TEST

START_TEST(test_config_named_file_missing)
{
	char *conf = join(dir, "nosuch.conf");
	ckptio_ctx *c;

	ck_assert_int_eq(ckptio_ctx_new(&c, conf), CKPTIO_ECONFIG);
	ck_assert_msg(strstr(ckptio_last_error(), conf), "'%s'",
		      ckptio_last_error());
	free(conf);
}
END_TEST

START_TEST(test_missing_store_plugin)
{
	char *conf = write_conf("[backend \"b\"]\nstore = nosuch\n");
	model m;

	ckptio_ctx_free(ctx);
	ck_assert_msg(ckptio_ctx_new(&ctx, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	model_fill(&m, 1);
	expect_err(save_model("b:x", &m, 0, NULL, NULL), CKPTIO_EPLUGIN,
		   "nosuch", tu_plugin_path_listed());
	expect_err(load_model("b:x", &m, 0), CKPTIO_EPLUGIN, "nosuch",
		   tu_plugin_path_listed());
	free(conf);
}
END_TEST

START_TEST(test_unknown_store_option)
{
	char *text, *conf, *root = join(dir, "root"), want[1024];
	model m;

	ck_assert_int_gt(asprintf(&text,
				  "[backend \"p\"]\nstore = posix\nroot = %s\n"
				  "frobnicate = 3\n",
				  root), 0);
	conf = write_conf(text);
	ckptio_ctx_free(ctx);
	ck_assert_msg(ckptio_ctx_new(&ctx, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	snprintf(want, sizeof(want), "%s:4: frobnicate", conf);
	model_fill(&m, 1);
	expect_err(save_model("p:x", &m, 0, NULL, NULL), CKPTIO_ECONFIG, want);
	ck_assert(absent_or_empty(root));
	free(text);
	free(conf);
	free(root);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (i) nothing lost: overwrite refused, failed save leaves the old one      */

static int cancel_half(void *user, uint64_t done, uint64_t total)
{
	int *calls = user;

	(*calls)++;
	return done * 2 >= total;
}

START_TEST(test_no_overwrite_and_failed_save)
{
	static model other;
	char *before = listing(loc), *after, *loc2 = join(dir, "ck2");
	int calls = 0;

	model_fill(&other, 99);
	expect_err(save_model(loc, &other, 0, NULL, NULL), CKPTIO_EEXIST,
		   "already exists");
	after = listing(loc);
	ck_assert_str_eq(before, after);
	free(after);
	expect_loads_as_orig(loc);

	/* An overwriting save cancelled half way. */
	expect_err(save_model(loc, &other, CKPTIO_SAVE_OVERWRITE, cancel_half,
			      &calls),
		   CKPTIO_ECANCELED, "cancel");
	ck_assert_int_ge(calls, 1);
	after = listing(loc);
	ck_assert_str_eq(before, after);
	free(after);
	expect_loads_as_orig(loc);
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_OK);

	/* A cancelled save to a new place leaves no checkpoint at all. */
	calls = 0;
	expect_err(save_model(loc2, &other, 0, cancel_half, &calls),
		   CKPTIO_ECANCELED, "cancel");
	ck_assert(absent_or_empty(loc2));
	ck_assert_int_eq(do_open(loc2), CKPTIO_ENOTFOUND);

	/* And the overwrite, when it goes through, replaces everything. */
	ck_assert_msg(save_model(loc, &other, CKPTIO_SAVE_OVERWRITE, NULL,
				 NULL) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	{
		static model back;

		ck_assert_int_eq(load_model(loc, &back, 0), CKPTIO_OK);
		ck_assert(memcmp(&back, &other, sizeof(other)) == 0);
	}
	free(before);
	free(loc2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (j) loading into the wrong buffers                                       */

static ckptio_status load_one_tensor(const char *name, ckptio_dtype dt,
				     unsigned ndim, const uint64_t *shape,
				     void *buf)
{
	ckptio_sd *sd;
	ckptio_status st;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, dt, ndim, shape, NULL,
					      NULL, buf), CKPTIO_OK);
	st = ckptio_load(ctx, loc, sd, NULL);
	ckptio_sd_free(sd);
	return st;
}

START_TEST(test_wrong_buffers)
{
	static float w[W_ROWS * W_COLS * 2];
	const uint64_t ws[2] = {W_ROWS, W_COLS}, transposed[2] = {W_COLS, W_ROWS};
	const uint64_t flat[1] = {W_ROWS * W_COLS}, bigger[2] = {W_ROWS * 2, W_COLS};
	char step[16];
	ckptio_sd *sd;

	expect_err(load_one_tensor("model.w", CKPTIO_F64, 2, ws, w),
		   CKPTIO_EINVAL, "'model.w'");
	expect_err(load_one_tensor("model.w", CKPTIO_I32, 2, ws, w),
		   CKPTIO_EINVAL, "'model.w'");
	expect_err(load_one_tensor("model.w", CKPTIO_F32, 2, transposed, w),
		   CKPTIO_EINVAL, "'model.w'");
	expect_err(load_one_tensor("model.w", CKPTIO_F32, 1, flat, w),
		   CKPTIO_EINVAL, "'model.w'");
	expect_err(load_one_tensor("model.w", CKPTIO_F32, 2, bigger, w),
		   CKPTIO_EINVAL, "'model.w'");
	expect_err(load_one_tensor("no.such.weight", CKPTIO_F32, 2, ws, w),
		   CKPTIO_ENOTFOUND, "'no.such.weight'");
	/* A tensor where a bytes item was saved, and the reverse. */
	expect_err(load_one_tensor("step", CKPTIO_U8, 1, (const uint64_t[]){8},
				   step),
		   CKPTIO_EINVAL, "'step'");
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "model.w", w, sizeof(float)),
			 CKPTIO_OK);
	expect_err(ckptio_load(ctx, loc, sd, NULL), CKPTIO_EINVAL, "'model.w'");
	ckptio_sd_free(sd);
	/* A bytes item of the wrong length. */
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "step", step, sizeof(step)),
			 CKPTIO_OK);
	expect_err(ckptio_load(ctx, loc, sd, NULL), CKPTIO_EINVAL, "'step'",
		   "8 bytes");
	ckptio_sd_free(sd);
	/* A missing item among good ones: nothing is half-loaded silently,
	 * and CKPTIO_LOAD_PARTIAL makes it fine. */
	{
		static model back;
		ckptio_opts opts = CKPTIO_OPTS_INIT;
		uint32_t extra = 0;
		const uint64_t one[1] = {1};

		sd = model_sd(&back);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, "extra", CKPTIO_U32,
						      1, one, NULL, NULL,
						      &extra), CKPTIO_OK);
		expect_err(ckptio_load(ctx, loc, sd, NULL), CKPTIO_ENOTFOUND,
			   "'extra'");
		opts.flags = CKPTIO_LOAD_PARTIAL;
		ck_assert_msg(ckptio_load(ctx, loc, sd, &opts) == CKPTIO_OK,
			      "%s", ckptio_errmsg(ctx));
		ck_assert(memcmp(&back, &orig, sizeof(orig)) == 0);
		ck_assert_uint_eq(extra, 0);
		ckptio_sd_free(sd);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("badinput");
	TCase *md = tcase_create("metadata");
	TCase *data = tcase_create("data");
	TCase *names = tcase_create("names");
	TCase *conf = tcase_create("config");
	TCase *safe = tcase_create("nothing lost");

	tcase_add_checked_fixture(md, setup, teardown);
	tcase_add_test(md, test_corrupt_metadata);
	tcase_add_test(md, test_metadata_of_wrong_shape);
	tcase_add_test(md, test_truncated_metadata);
	tcase_add_test(md, test_missing_metadata);
	tcase_add_test(md, test_metadata_name_with_nul);
	tcase_add_test(md, test_metadata_object_outside);
	tcase_add_test(md, test_chunk_past_object_end);
	tcase_add_test(md, test_chunk_length_mismatch);
	tcase_add_test(md, test_huge_metadata);
	suite_add_tcase(s, md);

	tcase_add_checked_fixture(data, setup, teardown);
	tcase_add_test(data, test_truncated_data_object);
	tcase_add_test(data, test_flipped_bit);
	tcase_add_test(data, test_linked_data_object);
	tcase_add_test(data, test_linked_metadata);
	tcase_add_test(data, test_linked_directory_in_path);
	tcase_add_test(data, test_fifo_data_object);
	tcase_add_test(data, test_fifo_metadata);
	tcase_add_test(data, test_chunk_without_crc);
	tcase_add_test(data, test_layout_without_checksums);
	tcase_add_test(data, test_empty_chunk_crc);
	tcase_add_test(data, test_two_failures_one_item);
	suite_add_tcase(s, data);

	tcase_add_checked_fixture(names, setup, teardown);
	tcase_add_test(names, test_hostile_names);
	tcase_add_test(names, test_rejected_names);
	suite_add_tcase(s, names);

	tcase_add_checked_fixture(conf, setup, teardown);
	tcase_add_test(conf, test_config_unknown_key);
	tcase_add_test(conf, test_config_bad_value);
	tcase_add_test(conf, test_config_named_file_missing);
	tcase_add_test(conf, test_missing_store_plugin);
	tcase_add_test(conf, test_unknown_store_option);
	suite_add_tcase(s, conf);

	tcase_add_checked_fixture(safe, setup, teardown);
	tcase_add_test(safe, test_no_overwrite_and_failed_save);
	tcase_add_test(safe, test_wrong_buffers);
	suite_add_tcase(s, safe);
	return tu_run_suite(s);
}
