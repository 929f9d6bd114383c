/*
 * module.c: the only file that knows Python. Argument parsing, the GIL,
 * callbacks into Python, and the one table that turns backend status codes
 * into exceptions (classes in lifelog_compression/errors.py, each also
 * deriving from the matching builtin).
 *
 *   Source(path)                 opens and probes (GIL released)
 *   Source.info                  dict: timeline and geometry the backend read
 *   Source.bytes_read            int: bytes read from the file or URL so far
 *   Source.probe_json()          str: container, streams, chapters, summary
 *   Source.extract(requests_ms, on_frame, *, canvas_width, ..., workers)
 *   Source.close(), context manager
 *   usable_cpus()                int: CPUs this process may use (cpus.h)
 *   signals_of(luma, w, h)       dict: a luma plane's content signals (signals.h)
 *   block_difference(a, b, group) int: the duplicate rule's block test (signals.h)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "cpus.h"
#include "extract.h"
#include "sourcefile.h"

typedef struct {
    PyObject *source_type;
    PyObject *pixels_type;
} module_state;

/* Pixels: a read-only buffer that owns a raw canvas from the core, so numpy
 * can wrap 6 MB per frame without copying it (numpy.frombuffer). */
typedef struct {
    PyObject_HEAD
    unsigned char *data;
    Py_ssize_t size;
} PixelsObject;

static int Pixels_getbuffer(PixelsObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->size, 1, flags);
}

static Py_ssize_t Pixels_len(PixelsObject *self)
{
    return self->size;
}

static void Pixels_dealloc(PixelsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    lc_free(self->data);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot Pixels_slots[] = {
    {Py_tp_doc, "Raw RGB canvas bytes owned by the native core (buffer protocol, read-only)."},
    {Py_tp_dealloc, Pixels_dealloc},
    {Py_bf_getbuffer, Pixels_getbuffer},
    {Py_sq_length, Pixels_len},
    {0, NULL}};

static PyType_Spec Pixels_spec = {
    .name = "lifelog_compression._core.Pixels",
    .basicsize = sizeof(PixelsObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Pixels_slots,
};

typedef struct {
    PyObject_HEAD
    lc_source *src;
    PyObject *path; /* str, for messages */
    int busy;       /* a call that releases the GIL is using src */
} SourceObject;

static const struct {
    lc_status status;
    const char *exception;
} error_table[] = {
    {LC_ERR_NOT_FOUND, "SourceNotFoundError"},       /* + FileNotFoundError */
    {LC_ERR_IS_DIRECTORY, "SourceIsDirectoryError"}, /* + IsADirectoryError */
    {LC_ERR_EMPTY, "EmptySourceError"},              /* + ValueError */
    {LC_ERR_NOT_MEDIA, "NotAVideoError"},            /* + ValueError */
    {LC_ERR_NO_VIDEO, "NoVideoStreamError"},         /* + ValueError */
    {LC_ERR_INDEX_MISSING, "MissingIndexError"},     /* + ValueError */
    {LC_ERR_UNSUPPORTED, "UnsupportedCodecError"},   /* + ValueError */
    {LC_ERR_DAMAGED, "DamagedSourceError"},          /* + ValueError */
    {LC_ERR_IO, "SourceReadError"},                  /* + OSError */
    {LC_ERR_NOMEM, NULL},                            /* MemoryError */
    {LC_ERR_INTERNAL, "ExtractError"},
    {LC_ERR_CANCELLED, "ExtractError"},
};

/* lc_open's poll: Ctrl-C while a backend waits for the platform (AVFoundation
 * loading an asset's keys). `opaque` is the opening thread's saved state. */
static int open_poll(void *opaque)
{
    PyThreadState **tstate = opaque;
    PyEval_RestoreThread(*tstate);
    int stop = PyErr_CheckSignals() < 0;
    *tstate = PyEval_SaveThread();
    return stop;
}

/* Raises the exception for a backend status, message "PATH: reason". */
static void raise_status(lc_status status, PyObject *path, const char *err)
{
    const char *name = "ExtractError";
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].status == status)
            name = error_table[i].exception;
    if (!name) {
        PyErr_NoMemory();
        return;
    }
    PyObject *errors = PyImport_ImportModule("lifelog_compression.errors");
    if (!errors)
        return;
    PyObject *cls = PyObject_GetAttrString(errors, name);
    Py_DECREF(errors);
    if (!cls)
        return;
    PyObject *exc = PyObject_CallFunction(cls, "N", PyUnicode_FromFormat("%U: %s", path, err));
    Py_DECREF(cls);
    if (!exc)
        return;
    PyObject *reason = PyUnicode_DecodeUTF8(err, (Py_ssize_t)strlen(err), "replace");
    if (reason && PyObject_SetAttrString(exc, "reason", reason) == 0 && PyObject_SetAttrString(exc, "path", path) == 0)
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_XDECREF(reason);
    Py_DECREF(exc);
}

/*
 * Every method that releases the GIL marks the source busy first, so that
 * another thread (or Python code the call itself runs: an __index__, the
 * frame callback) cannot close it or start a second call on it meanwhile;
 * close() then raises instead of freeing the decoder under the running call.
 * The check and the mark happen with the GIL held, which makes them atomic.
 */
static const char busy_message[] =
    "the source is in use by another call (extract or probe_json); close it after that call returns";

static int begin_call(SourceObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, busy_message);
        return -1;
    }
    if (!self->src) {
        PyErr_SetString(PyExc_ValueError, "the source is closed");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static void end_call(SourceObject *self)
{
    self->busy = 0;
}

static int Source_init(SourceObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path_bytes = NULL;
    char err[LC_ERRMSG_SIZE] = "";
    lc_source *src = NULL;
    lc_status status;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, busy_message);
        return -1;
    }
    if (self->src) {
        PyErr_SetString(PyExc_RuntimeError, "Source is already open");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&", kwlist, PyUnicode_FSConverter, &path_bytes))
        return -1;
    /* The argument's own code (__fspath__) may have run: look again. */
    if (self->busy || self->src) {
        PyErr_SetString(PyExc_RuntimeError, "Source was opened meanwhile by another call");
        Py_DECREF(path_bytes);
        return -1;
    }
    Py_XSETREF(self->path, PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path_bytes)));
    if (!self->path) {
        Py_DECREF(path_bytes);
        return -1;
    }
    self->busy = 1;
    PyThreadState *tstate = PyEval_SaveThread();
    status = lc_open(PyBytes_AS_STRING(path_bytes), &src, open_poll, &tstate, err);
    PyEval_RestoreThread(tstate);
    self->busy = 0;
    Py_DECREF(path_bytes);
    if (status != LC_OK) {
        if (!PyErr_Occurred()) /* Ctrl-C while opening: KeyboardInterrupt is already set */
            raise_status(status, self->path, err);
        return -1;
    }
    self->src = src;
    return 0;
}

static void Source_dealloc(SourceObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    lc_close(self->src);
    Py_CLEAR(self->path);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int Source_traverse(SourceObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static PyObject *Source_get_info(SourceObject *self, void *closure)
{
    /* No GIL release here, but a running call may still be refining what the
     * backend knows about its source. */
    if (begin_call(self) < 0)
        return NULL;
    end_call(self);
    const lc_source_info *i = lc_info(self->src);
    return Py_BuildValue("{sLsLsisisisisisNsN}", "duration_ms", (long long)i->duration_ms, "start_offset_us",
                         (long long)i->start_offset_us, "coded_width", i->coded_width, "coded_height", i->coded_height,
                         "display_width", i->display_width, "display_height", i->display_height, "rotation_degrees",
                         i->rotation_degrees, "hflip", PyBool_FromLong(i->hflip), "keyframe_index",
                         PyBool_FromLong(i->keyframe_index));
}

/* Not check_open: the count may be read while an extraction runs. */
static PyObject *Source_get_bytes_read(SourceObject *self, void *closure)
{
    if (!self->src) {
        PyErr_SetString(PyExc_ValueError, "the source is closed");
        return NULL;
    }
    return PyLong_FromLongLong((long long)lc_bytes_read(self->src));
}

static PyObject *Source_probe_json(SourceObject *self, PyObject *unused)
{
    char err[LC_ERRMSG_SIZE] = "", *json = NULL;
    lc_status status;
    if (begin_call(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lc_probe_json(self->src, &json, err);
    Py_END_ALLOW_THREADS
    end_call(self);
    if (status != LC_OK) {
        raise_status(status, self->path, err);
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8(json, (Py_ssize_t)strlen(json), "replace");
    lc_free(json);
    return text;
}

/* State shared with the sink and poll callbacks, which run on this thread
 * with the GIL released around them. */
typedef struct {
    PyObject *on_frame;
    PyThreadState *tstate;
    PyTypeObject *pixels_type;
} extract_ctx;

static const char *obtained_name(lc_obtained o)
{
    switch (o) {
    case LC_OBTAINED_KEYFRAME:
        return "keyframe";
    case LC_OBTAINED_FORWARD:
        return "decoded_forward";
    case LC_OBTAINED_PLATFORM:
        return "platform";
    default:
        return NULL;
    }
}

static PyObject *adopt_pixels(PyTypeObject *type, const lc_frame *f)
{
    PixelsObject *px = PyObject_New(PixelsObject, type);
    if (!px)
        return NULL;
    px->data = (unsigned char *)f->rgb;
    px->size = (Py_ssize_t)f->rgb_size;
    *f->rgb_adopted = 1;
    return (PyObject *)px;
}

/* The content signals (signals.h) as a dict, or None when there are none. */
static PyObject *signals_dict(const lc_signals *sg)
{
    if (!sg->valid)
        return Py_NewRef(Py_None);
    return Py_BuildValue("{sKsdsdsdsy#}", "phash", (unsigned long long)sg->phash, "sharpness", sg->sharpness,
                         "luma_mean", sg->luma_mean, "luma_clipped", sg->luma_clipped, "thumb", (const char *)sg->thumb,
                         (Py_ssize_t)sizeof sg->thumb);
}

static PyObject *frame_dict(const lc_frame *f, PyTypeObject *pixels_type)
{
    if (f->obtained == LC_OBTAINED_NONE)
        return Py_BuildValue("{snsLszszsisisisOsO}", "request_index", (Py_ssize_t)f->request_index, "requested_ms",
                             (long long)f->requested_ms, "actual_us", NULL, "obtained", NULL, "frames_decoded",
                             f->frames_decoded, "damaged_pictures", f->damaged_pictures, "false_keyframes",
                             f->false_keyframes, "jpeg", Py_None, "rgb", Py_None);
    PyObject *pixels;
    if (f->rgb && f->rgb_adopted)
        pixels = adopt_pixels(pixels_type, f);
    else if (f->rgb)
        pixels = PyBytes_FromStringAndSize((const char *)f->rgb, (Py_ssize_t)f->rgb_size);
    else
        pixels = PyBytes_FromStringAndSize((const char *)f->jpeg, (Py_ssize_t)f->jpeg_size);
    if (!pixels)
        return NULL;
    PyObject *d = Py_BuildValue(
        "{snsLsLsssisisis(iiii)s(ii)sNsOszsO}", "request_index", (Py_ssize_t)f->request_index, "requested_ms",
        (long long)f->requested_ms, "actual_us", (long long)f->actual_us, "obtained", obtained_name(f->obtained),
        "frames_decoded", f->frames_decoded, "damaged_pictures", f->damaged_pictures, "false_keyframes",
        f->false_keyframes, "content_rect", f->content_x, f->content_y, f->content_width, f->content_height,
        "source_size", f->source_width, f->source_height, f->rgb ? "rgb" : "jpeg", pixels, f->rgb ? "jpeg" : "rgb",
        Py_None, "colour_mapping", f->colour_mapping, "deinterlaced", f->deinterlaced ? Py_True : Py_False);
    PyObject *signals = d ? signals_dict(&f->signals) : NULL;
    if (!signals || PyDict_SetItemString(d, "signals", signals) < 0)
        Py_CLEAR(d);
    Py_XDECREF(signals);
    return d;
}

static int sink(void *opaque, const lc_frame *frame)
{
    extract_ctx *ctx = opaque;
    PyEval_RestoreThread(ctx->tstate);
    int stop = 1;
    PyObject *d = frame_dict(frame, ctx->pixels_type);
    if (d) {
        PyObject *r = PyObject_CallOneArg(ctx->on_frame, d);
        Py_DECREF(d);
        if (r) {
            Py_DECREF(r);
            /* Ctrl-C between frames, too: a frame can take long on a long GOP. */
            stop = PyErr_CheckSignals() < 0;
        }
    }
    ctx->tstate = PyEval_SaveThread();
    return stop;
}

static int poll(void *opaque)
{
    extract_ctx *ctx = opaque;
    PyEval_RestoreThread(ctx->tstate);
    int stop = PyErr_CheckSignals() < 0;
    ctx->tstate = PyEval_SaveThread();
    return stop;
}

static PyObject *Source_extract(SourceObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"requests_ms",         "on_frame",           "canvas_width", "canvas_height",
                             "tolerance_before_ms", "tolerance_after_ms", "jpeg_quality", "workers",
                             "chroma_444",          "scale_filter",       "raw_rgb",      NULL};
    PyObject *requests, *on_frame, *seq = NULL, *result = NULL;
    /* The Python layer always passes its Recipe; these only serve direct calls. */
    lc_recipe recipe = {1920, 1080, 500, 500, 80, 0, 0, 0, LC_SCALE_LANCZOS};
    int chroma_444 = 0, scale_filter = 0, raw_rgb = 0;
    int64_t *times = NULL;
    char err[LC_ERRMSG_SIZE] = "";
    lc_status status;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$iiiiiipip", kwlist, &requests, &on_frame, &recipe.canvas_width,
                                     &recipe.canvas_height, &recipe.tolerance_before_ms, &recipe.tolerance_after_ms,
                                     &recipe.jpeg_quality, &recipe.workers, &chroma_444, &scale_filter, &raw_rgb))
        return NULL;
    recipe.chroma_444 = chroma_444;
    recipe.raw_rgb = raw_rgb;
    if (scale_filter < LC_SCALE_BILINEAR || scale_filter > LC_SCALE_AREA) {
        PyErr_SetString(PyExc_ValueError, "scale_filter must be 0 (bilinear), 1 (bicubic), 2 (lanczos) or 3 (area)");
        return NULL;
    }
    recipe.scale_filter = (lc_scale_filter)scale_filter;
    if (!PyCallable_Check(on_frame)) {
        PyErr_SetString(PyExc_TypeError, "on_frame must be callable");
        return NULL;
    }
    if (recipe.canvas_width < 2 || recipe.canvas_height < 2 || recipe.canvas_width % 2 || recipe.canvas_height % 2 ||
        recipe.jpeg_quality < 1 || recipe.jpeg_quality > 100 || recipe.tolerance_before_ms < 0 ||
        recipe.tolerance_after_ms < 0 || recipe.workers < 0 || recipe.workers > LC_MAX_WORKERS) {
        PyErr_SetString(PyExc_ValueError, "canvas sizes must be even and >= 2, quality 1..100, "
                                          "tolerances >= 0, workers 0.." LC_STR(LC_MAX_WORKERS));
        return NULL;
    }
    module_state *state = PyType_GetModuleState(Py_TYPE(self));
    extract_ctx ctx = {on_frame, NULL, state ? (PyTypeObject *)state->pixels_type : NULL};
    if (!ctx.pixels_type)
        return NULL;
    /* Busy before any Python code of the caller runs (an item's __index__ may
     * close the source), and the requests copied into a tuple of our own (the
     * same code may empty the list we were given) and then into a C array,
     * every item converted before the GIL is released. */
    if (begin_call(self) < 0)
        return NULL;
    if (!(seq = PySequence_Tuple(requests))) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "requests_ms must be a sequence of integers");
        }
        goto fail;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (!(times = PyMem_Calloc(n ? (size_t)n : 1, sizeof *times))) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        times[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(seq, i));
        if (times[i] == -1 && PyErr_Occurred())
            goto fail;
        if (i > 0 && times[i] <= times[i - 1]) {
            PyErr_SetString(PyExc_ValueError, "requests_ms must be strictly ascending");
            goto fail;
        }
    }
    Py_CLEAR(seq);

    ctx.tstate = PyEval_SaveThread();
    status = lc_extract(self->src, times, (size_t)n, &recipe, sink, poll, &ctx, err);
    PyEval_RestoreThread(ctx.tstate);
    if (status != LC_OK) {
        if (!PyErr_Occurred()) /* a callback's own exception wins */
            raise_status(status, self->path, err);
        goto fail;
    }
    result = Py_NewRef(Py_None);
fail:
    end_call(self);
    Py_XDECREF(seq);
    PyMem_Free(times);
    return result;
}

static PyObject *Source_close(SourceObject *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, busy_message);
        return NULL;
    }
    lc_close(self->src);
    self->src = NULL;
    Py_RETURN_NONE;
}

static PyObject *Source_enter(SourceObject *self, PyObject *unused)
{
    return Py_NewRef(self);
}

static PyObject *Source_exit(SourceObject *self, PyObject *args)
{
    return Source_close(self, NULL);
}

static PyMethodDef Source_methods[] = {
    {"probe_json", (PyCFunction)Source_probe_json, METH_NOARGS,
     "probe_json() -> str\n\nContainer, streams, chapters and a normalised summary, as JSON text."},
    {"extract", (PyCFunction)(void (*)(void))Source_extract, METH_VARARGS | METH_KEYWORDS,
     "extract(requests_ms, on_frame, *, canvas_width=1920, canvas_height=1080,\n"
     "        tolerance_before_ms=500, tolerance_after_ms=500, jpeg_quality=80, workers=0,\n"
     "        chroma_444=False, scale_filter=2, raw_rgb=False)\n\n"
     "Calls on_frame(dict) once per request, in order, with the JPEG bytes (or with\n"
     "raw_rgb, 'rgb': canvas_height rows of canvas_width*3 bytes). The GIL is\n"
     "released while frames are decoded; an exception from on_frame stops the work."},
    {"close", (PyCFunction)Source_close, METH_NOARGS, "Releases the file and the decoder."},
    {"__enter__", (PyCFunction)Source_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Source_exit, METH_VARARGS, NULL},
    {NULL}};

static PyGetSetDef Source_getset[] = {
    {"info", (getter)Source_get_info, NULL, "Timeline and geometry read when the source was opened.", NULL},
    {"bytes_read", (getter)Source_get_bytes_read, NULL,
     "Bytes read from the source so far (probing and every worker), -1 if the backend cannot tell.", NULL},
    {NULL}};

static PyMemberDef Source_members[] = {{"path", T_OBJECT, offsetof(SourceObject, path), READONLY, "The path as given."},
                                       {NULL}};

static PyType_Slot Source_slots[] = {{Py_tp_doc, "Source(path): one video file opened by the native backend."},
                                     {Py_tp_init, Source_init},
                                     {Py_tp_dealloc, Source_dealloc},
                                     {Py_tp_traverse, Source_traverse},
                                     {Py_tp_methods, Source_methods},
                                     {Py_tp_getset, Source_getset},
                                     {Py_tp_members, Source_members},
                                     {Py_tp_new, PyType_GenericNew},
                                     {0, NULL}};

static PyType_Spec Source_spec = {
    .name = "lifelog_compression._core.Source",
    .basicsize = sizeof(SourceObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Source_slots,
};

static int core_exec(PyObject *m)
{
    module_state *state = PyModule_GetState(m);
    state->source_type = PyType_FromModuleAndSpec(m, &Source_spec, NULL);
    if (!state->source_type || PyModule_AddObjectRef(m, "Source", state->source_type) < 0)
        return -1;
    state->pixels_type = PyType_FromModuleAndSpec(m, &Pixels_spec, NULL);
    if (!state->pixels_type || PyModule_AddObjectRef(m, "Pixels", state->pixels_type) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "backend", lc_backend_name()) < 0 ||
        PyModule_AddStringConstant(m, "backend_versions", lc_backend_versions()) < 0 ||
        PyModule_AddIntConstant(m, "MAX_WORKERS", LC_MAX_WORKERS) < 0)
        return -1;
    return 0;
}

static int core_traverse(PyObject *m, visitproc visit, void *arg)
{
    module_state *state = PyModule_GetState(m);
    Py_VISIT(state->source_type);
    Py_VISIT(state->pixels_type);
    return 0;
}

static int core_clear(PyObject *m)
{
    module_state *state = PyModule_GetState(m);
    Py_CLEAR(state->source_type);
    Py_CLEAR(state->pixels_type);
    return 0;
}

static PyObject *core_usable_cpus(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(lc_usable_cpus());
}

/* The recording's byte range in a local file (sourcefile.h), the same answer
 * the backend opens: the telemetry readers and bundle.json read it here
 * rather than deciding again. None for a file that is its own recording. */
static PyObject *core_recording_range(PyObject *module, PyObject *arg)
{
    PyObject *path_bytes = NULL, *path = NULL;
    char err[LC_ERRMSG_SIZE] = "";
    lc_recording rec;
    lc_status status;
    if (!PyUnicode_FSConverter(arg, &path_bytes))
        return NULL;
    PyThreadState *tstate = PyEval_SaveThread();
    status = lc_find_recording(PyBytes_AS_STRING(path_bytes), &rec, err);
    PyEval_RestoreThread(tstate);
    if (status != LC_OK) {
        if ((path = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path_bytes))))
            raise_status(status, path, err);
        Py_XDECREF(path);
        Py_DECREF(path_bytes);
        return NULL;
    }
    Py_DECREF(path_bytes);
    if (!rec.embedded)
        Py_RETURN_NONE;
    return Py_BuildValue("{sKsKss}", "offset", (unsigned long long)rec.offset, "length", (unsigned long long)rec.length,
                         "container", rec.container);
}

/* The same computation the backends run on each frame, for tests and
 * benchmarks: a w x h luma plane (rows `stride` bytes apart, default w). */
static PyObject *core_signals_of(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"luma", "width", "height", "stride", NULL};
    Py_buffer buf;
    int w, h;
    Py_ssize_t stride = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*ii|n", kwlist, &buf, &w, &h, &stride))
        return NULL;
    if (!stride)
        stride = w;
    lc_signals sg;
    int rc = -2;
    if (w >= 1 && h >= 1 && stride >= w && buf.len >= stride * (h - 1) + w) {
        Py_BEGIN_ALLOW_THREADS
        rc = lc_signals_compute(buf.buf, (long)stride, w, h, &sg);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&buf);
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "luma must hold height rows of stride bytes (width <= stride), width and "
                                          "height >= 1");
        return NULL;
    }
    if (rc < 0)
        return PyErr_NoMemory();
    return signals_dict(&sg);
}

/* The duplicate rule's block test on two thumbnails (signals.h). */
static PyObject *core_block_difference(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"kept", "thumb", "group", NULL};
    Py_buffer kept, thumb;
    int group = 2;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*y*|i", kwlist, &kept, &thumb, &group))
        return NULL;
    const Py_ssize_t n = LC_SIGNALS_THUMB * LC_SIGNALS_THUMB;
    int d = kept.len == n && thumb.len == n ? lc_block_difference(kept.buf, thumb.buf, group) : -2;
    PyBuffer_Release(&kept);
    PyBuffer_Release(&thumb);
    if (d < 0) {
        PyErr_Format(PyExc_ValueError, "two thumbnails of %d levels each and a group of 1..%d", (int)n,
                     LC_SIGNALS_THUMB);
        return NULL;
    }
    return PyLong_FromLong(d);
}

static PyMethodDef core_methods[] = {
    {"block_difference", (PyCFunction)(void (*)(void))core_block_difference, METH_VARARGS | METH_KEYWORDS,
     "block_difference(kept, thumb, group=2) -> int\n\nThe duplicate rule's block test: how far two 32x32\n"
     "thumbnails differ locally, in luma levels, once a monotone tone curve fitted by ranks is allowed\n"
     "(csrc/signals.h)."},
    {"signals_of", (PyCFunction)(void (*)(void))core_signals_of, METH_VARARGS | METH_KEYWORDS,
     "signals_of(luma, width, height, stride=width) -> dict\n\nThe content signals (phash, sharpness, luma_mean,\n"
     "luma_clipped, thumb) the backends compute for each frame, of one luma plane (csrc/signals.h)."},
    {"recording_range", core_recording_range, METH_O,
     "recording_range(path) -> dict | None\n\nWhere the recording lies in a local file: {offset, length, container}\n"
     "for a motion photo's embedded MP4, None when the file is the recording. Raises the\n"
     "extraction's error for a motion photo whose metadata names no MP4 (csrc/sourcefile.h)."},
    {"usable_cpus", core_usable_cpus, METH_NOARGS,
     "usable_cpus() -> int\n\nCPUs this process may use: the smallest of the online CPUs, the\n"
     "affinity mask (taskset) and the cgroup CPU quota; what workers=0 means."},
    {NULL}};

static PyModuleDef_Slot core_slots[] = {{Py_mod_exec, core_exec}, {0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lifelog_compression._core",
    .m_doc = "Native frame extraction core (see csrc/extract.h).",
    .m_size = sizeof(module_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
