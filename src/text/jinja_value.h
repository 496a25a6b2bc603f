/* jinja_value.h: runtime values of the Jinja interpreter (the reference's IntegerValue,
 * FloatValue, StringValue, ArrayValue, ObjectValue, NamespaceValue, FunctionValue, ...). */
#ifndef MX_JINJA_VALUE_H
#define MX_JINJA_VALUE_H

#include "text/jinja_internal.h"

typedef enum { V_UNDEF, V_NULL, V_BOOL, V_INT, V_FLOAT, V_STR, V_ARR, V_OBJ, V_FUNC } vtype;

typedef struct jarr jarr;
typedef struct jobj jobj;
typedef struct jfn jfn;

typedef struct jv {
    vtype t;
    union {
        int b;
        double n;  /* V_INT and V_FLOAT: JS numbers; V_INT only marks the reference's type */
        struct {
            const char *p;
            size_t len;
        } s;
        jarr *a;
        jobj *o;
        jfn *f;
    } u;
} jv;

struct jarr {
    jv *v;
    size_t n;
    bool tuple;  /* TupleValue: a separate type in the reference (not JSON-serialisable) */
};

typedef enum { O_OBJ, O_KWARGS, O_NS } okind;

typedef struct jkey {
    const char *p;
    size_t len;
} jkey;

struct jobj {
    okind kind;
    jkey *k;
    jv *v;
    size_t n, cap;
};

typedef enum {
    F_RAISE, F_RANGE, F_STRFTIME, F_NAMESPACE, F_STRMETH, F_OBJMETH, F_MACRO, F_CALLER
} fkind;

struct jenv;

struct jfn {
    fkind kind;
    int method;          /* F_STRMETH / F_OBJMETH: which one */
    jv self;             /* bound receiver */
    const jnode *node;   /* F_MACRO: the macro; F_CALLER: the call block */
    struct jenv *env;    /* F_CALLER: where the call block was evaluated */
};

#endif /* MX_JINJA_VALUE_H */
