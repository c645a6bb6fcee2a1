// profile.h: the engine's REG4PRU_PROFILE phases (runtime/profile.h prints them after each run).
#pragma once
#include "runtime/profile.h"

namespace r4p::engine {

enum Phase { kEmbed, kSelect, kBlocks, kHeadNorm, kHeadMlp, kUpConv, kUpDwLn, kMaskGemm, kResizeSem, kPhases };
inline constexpr const char* kPhaseNames[kPhases] = {"embed", "select", "blocks", "headLN", "headMLP", "upConvT", "upDwLN", "maskGemm", "resizeSem"};
using EnginePhaseClock = PhaseClock<kPhases>;

}  // namespace r4p::engine
