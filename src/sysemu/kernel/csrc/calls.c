/* Call objects and counters: see calls.h. */
#include "calls.h"

#include <string.h>

#include "timing.h"

static PyObject *s_stops, *s_handler_ns, *s_emulated, *s_passed, *s_failed, *s_listener,
    *s_notification;

/* --- Counters ------------------------------------------------------------------------------ */

static int add_to(PyObject *stats, PyObject *name, long long amount) {
    PyObject *old = PyObject_GetAttr(stats, name);
    if (old == NULL) return -1;
    PyObject *by = PyLong_FromLongLong(amount);
    PyObject *sum = by == NULL ? NULL : PyNumber_Add(old, by);
    Py_DECREF(old);
    Py_XDECREF(by);
    if (sum == NULL) return -1;
    int result = PyObject_SetAttr(stats, name, sum);
    Py_DECREF(sum);
    return result;
}

/* Five attribute updates a call cost about 0.3 µs: so counts are kept here and added to the
 * SyscallStats when a loop returns to Python (flush_counters). Both wait loops use them. */
#define COUNTED_ROUTES 64
static struct {
    PyObject *stats;
    long long values[COUNT_FIELDS];
} counted[COUNTED_ROUTES];
static int ncounted;

static PyObject *count_name(int field) {
    PyObject *names[COUNT_FIELDS] = {s_stops, s_handler_ns, s_emulated, s_passed, s_failed};
    return names[field];
}

int count_for_route(PyObject *stats, int field, long long amount) {
    for (int i = 0; i < ncounted; i++) {
        if (counted[i].stats == stats) {
            counted[i].values[field] += amount;
            return 0;
        }
    }
    if (ncounted == COUNTED_ROUTES)
        return add_to(stats, count_name(field),
                      field == COUNT_HANDLER_NS ? ticks_to_ns(amount) : amount);
    Py_INCREF(stats);
    counted[ncounted].stats = stats;
    memset(counted[ncounted].values, 0, sizeof counted[ncounted].values);
    counted[ncounted++].values[field] = amount;
    return 0;
}

/* Adds what was counted to the SyscallStats; 0, or -1 with an exception set. */
static int flush_counters(void) {
    int result = 0;
    for (int i = 0; i < ncounted; i++) {
        for (int field = 0; field < COUNT_FIELDS && result == 0; field++)
            if (counted[i].values[field])
                result = add_to(counted[i].stats, count_name(field),
                                field == COUNT_HANDLER_NS ? ticks_to_ns(counted[i].values[field])
                                                          : counted[i].values[field]);
        Py_DECREF(counted[i].stats);
    }
    ncounted = 0;
    return result;
}

PyObject *counters_flushed(PyObject *result) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int failed = flush_counters() < 0;
    if (result == NULL) {
        if (failed) PyErr_Clear();
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    if (failed) Py_CLEAR(result);
    return result;
}

/* --- Calls --------------------------------------------------------------------------------- */

/* Calls are made by filling the slots of a fresh object of the Call type, as Call.__init__ does
 * (about 0.2 µs less than running it). The slots' offsets come from the type's member
 * descriptors; a type without one of them is called instead. */
enum { SLOT_SYSCALL, SLOT_RAW, SLOT_TASK, SLOT_IP, SLOT_SP, SLOT_ARGS, SLOT_MEMORY, SLOT_LISTENER,
       SLOT_NOTIFICATION, SLOTS };
static const char *const slot_names[SLOTS] = {"syscall", "raw", "_task", "ip", "sp", "_args",
                                              "_memory", "_listener", "_notification"};
static struct {
    PyTypeObject *type;
    Py_ssize_t offsets[SLOTS]; /* -1: no such slot */
    int reusable;              /* an object of it holds nothing but these slots (see release_call) */
    PyObject *spare;           /* a released Call of this type, its slots empty, or NULL */
} call_plans[4];

static int call_plan_index(PyTypeObject *type) {
    for (int i = 0; i < (int)(sizeof call_plans / sizeof call_plans[0]); i++) {
        if (call_plans[i].type == type) return i;
        if (call_plans[i].type == NULL) {
            call_plans[i].type = type; /* the types live as long as the module */
            Py_INCREF(type);
            Py_ssize_t slots = 0;
            for (int slot = 0; slot < SLOTS; slot++) {
                call_plans[i].offsets[slot] = slot_offset(type, slot_names[slot]);
                slots += call_plans[i].offsets[slot] >= 0;
            }
            /* Nothing else to reset between two uses: no finaliser, nothing but the slots. */
            call_plans[i].reusable = type->tp_finalize == NULL && type->tp_del == NULL &&
                                     holds_only_slots(type, slots);
            return i;
        }
    }
    return -1;
}

/* One Call that nobody else holds (the handler kept no reference, nothing waits for its
 * result) is emptied and kept as its type's spare, which the next new_call fills instead of
 * allocating: a Call less to allocate, track and deallocate per call. Nobody can tell: no
 * reference to the old Call exists. */
void release_call(PyObject *call) {
    if (call == NULL) return;
    int index = Py_REFCNT(call) == 1 ? call_plan_index(Py_TYPE(call)) : -1;
    if (index < 0 || !call_plans[index].reusable || call_plans[index].spare != NULL) {
        Py_DECREF(call);
        return;
    }
    for (int slot = 0; slot < SLOTS; slot++)
        if (call_plans[index].offsets[slot] >= 0)
            Py_CLEAR(*(PyObject **)((char *)call + call_plans[index].offsets[slot]));
    /* Clearing may have run Python (a finaliser of what a slot held) and let the other wait
     * loop's thread (auto) release a Call of its own meanwhile. */
    if (call_plans[index].spare != NULL) {
        Py_DECREF(call);
        return;
    }
    call_plans[index].spare = call;
}

PyObject *new_call(PyObject *call_type, PyObject *syscall, PyObject *raw, PyObject *task,
                   PyObject *ip, PyObject *sp, PyObject *listener, PyObject *notification) {
    PyTypeObject *type = (PyTypeObject *)call_type;
    int index = call_plan_index(type);
    Py_ssize_t *offsets = index < 0 ? NULL : call_plans[index].offsets;
    int fast = offsets != NULL;
    for (int slot = 0; fast && slot < (listener ? SLOTS : SLOT_LISTENER); slot++)
        fast = offsets[slot] >= 0;
    if (!fast) {
        PyObject *call_args[5] = {syscall, raw, task, ip, sp};
        PyObject *call = PyObject_Vectorcall(call_type, call_args, 5, NULL);
        if (call != NULL && listener != NULL &&
            (PyObject_SetAttr(call, s_listener, listener) < 0 ||
             PyObject_SetAttr(call, s_notification, notification) < 0))
            Py_CLEAR(call);
        return call;
    }
    PyObject *call = call_plans[index].spare;
    call_plans[index].spare = NULL;
    if (call == NULL && (call = type->tp_alloc(type, 0)) == NULL) return NULL;
    PyObject *values[SLOTS] = {syscall, raw, task, ip, sp, Py_None, Py_None, listener, notification};
    for (int slot = 0; slot < (listener ? SLOTS : SLOT_LISTENER); slot++) {
        PyObject **field = (PyObject **)((char *)call + offsets[slot]);
        Py_INCREF(values[slot]);
        Py_XSETREF(*field, values[slot]);
    }
    return call;
}

int run_handler(PyObject *handler, PyObject *call, PyObject *stats, PyObject *raised,
                PyObject *route, PyObject **decision) {
    long long start = ticks();
    *decision = PyObject_CallOneArg(handler, call);
    long long spent = ticks() - start;
    if (*decision != NULL) return count_for_route(stats, COUNT_HANDLER_NS, spent) < 0 ? -1 : 1;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) PyException_SetTraceback(value, traceback);
    int outcome;
    if (count_for_route(stats, COUNT_HANDLER_NS, spent) < 0) {
        outcome = -1;
    } else if (!PyErr_GivenExceptionMatches(type, PyExc_Exception)) {
        PyErr_Restore(type, value, traceback);
        return -1;
    } else {
        PyObject *argv[4] = {call, route, handler, value};
        outcome = call_dropping(raised, argv, 4) < 0 ? -1 : 0;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return outcome;
}

/* --- Decisions made in C ------------------------------------------------------------------- */

/* record_method(owner, type, field, name, doc) -> a method of `owner` whose call
 * self.name(value) returns an object of the __slots__ class `type` with `field` set to value,
 * made with nothing run in Python (no frame, no __init__, no argument tuple): Call.emulate, the
 * decision of most hot handlers. The type must hold that one slot and nothing else (no
 * __dict__, no weak references, no other slot); one record type per process.
 *
 * The wait loops hand the record back once its decision is carried out (release_record): one
 * that nobody else holds is emptied and kept as the spare, and the next one made fills it, as
 * a Call is kept (release_call). That saves an allocation, a free and the cyclic collector's
 * bookkeeping per emulated call. */
static PyTypeObject *record_type;
static Py_ssize_t record_offset;
static PyObject *spare_record;
static PyObject *record_method_name, *record_method_doc; /* kept: the method's def points in */

static PyObject *make_record(PyObject *self, PyObject *value) {
    (void)self;
    PyObject *record = spare_record;
    if (record != NULL) {
        spare_record = NULL;
    } else if ((record = record_type->tp_alloc(record_type, 0)) == NULL) {
        return NULL;
    }
    Py_INCREF(value);
    *(PyObject **)((char *)record + record_offset) = value;
    return record;
}

void release_record(PyObject *decision) {
    if (decision == NULL) return;
    if (Py_TYPE(decision) != record_type || Py_REFCNT(decision) != 1 || spare_record != NULL) {
        Py_DECREF(decision);
        return;
    }
    PyObject **field = (PyObject **)((char *)decision + record_offset);
    PyObject *value = *field;
    *field = NULL;
    spare_record = decision;
    Py_XDECREF(value);
}

static PyMethodDef record_method_def = {NULL, (PyCFunction)make_record, METH_O, NULL};

static PyObject *sp_record_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyType_Check(args[0]) || !PyType_Check(args[1]) ||
        !PyUnicode_Check(args[2]) || !PyUnicode_Check(args[3]) || !PyUnicode_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "record_method(owner, type, field, name, doc)");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)args[1];
    Py_ssize_t offset = slot_offset(type, PyUnicode_AsUTF8(args[2]));
    if (offset < 0 || !holds_only_slots(type, 1)) {
        PyErr_Format(PyExc_TypeError, "%s must hold the one slot %U and nothing else",
                     type->tp_name, args[2]);
        return NULL;
    }
    if (record_type != NULL && (record_type != type || record_offset != offset)) {
        PyErr_SetString(PyExc_TypeError, "record_method makes one record type per process");
        return NULL;
    }
    if (record_type == NULL) {
        Py_INCREF(type);
        record_type = type;
        record_offset = offset;
        Py_INCREF(args[3]);
        Py_INCREF(args[4]);
        record_method_name = args[3];
        record_method_doc = args[4];
        record_method_def.ml_name = PyUnicode_AsUTF8(record_method_name);
        record_method_def.ml_doc = PyUnicode_AsUTF8(record_method_doc);
    }
    return PyDescr_NewMethod((PyTypeObject *)args[0], &record_method_def);
}

PyMethodDef calls_methods[] = {
    {"record_method", (PyCFunction)(void (*)(void))sp_record_method, METH_FASTCALL,
     "record_method(owner, type, field, name, doc) -> a method of owner: self.name(value) makes"
     " an object of type with field set, in C."},
    {NULL, NULL, 0, NULL},
};

int calls_init(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_stops, "stops"},   {&s_handler_ns, "handler_ns"}, {&s_emulated, "emulated"},
        {&s_passed, "passed"}, {&s_failed, "failed"},         {&s_listener, "_listener"},
        {&s_notification, "_notification"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) return -1;
    choose_ticks();
    return 0;
}
