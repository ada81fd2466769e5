/* fxlearn kernel: umbrella header. Integer-only, no malloc, no I/O (docs/kernel.md). */
#ifndef FXLEARN_H
#define FXLEARN_H

#include "fx_config.h"
#include "fx_status.h"
#include "fx_fixed.h"
#include "fx_requant.h"
#include "fx_quant.h"
#include "fx_dense.h"
#include "fx_act.h"
#include "fx_mlp.h"
#include "fx_blob.h"
#include "fx_loss.h"
#include "fx_optim.h"
#include "fx_train_backward.h"
#include "fx_train.h"

#endif
