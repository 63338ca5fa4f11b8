#include "fsa_msg.h"

const char *fsa_event_kind_name(enum fsa_event_kind kind)
{
    switch (kind) {
    case FSA_EV_CHANNEL_CREATE: return "CHANNEL_CREATE";
    case FSA_EV_CHANNEL_ANSWER: return "CHANNEL_ANSWER";
    case FSA_EV_CHANNEL_BRIDGE: return "CHANNEL_BRIDGE";
    case FSA_EV_CHANNEL_HANGUP_COMPLETE: return "CHANNEL_HANGUP_COMPLETE";
    case FSA_EV_RECV_RTCP: return "RECV_RTCP_MESSAGE";
    case FSA_EV_SEND_RTCP: return "SEND_RTCP_MESSAGE";
    case FSA_EV_CHANNEL_DATA: return "CHANNEL_DATA";
    case FSA_EV_CHANNEL_LIVE: return "CHANNEL_LIVE";
    case FSA_EV_LABELS_FAILED: return "LABELS_FAILED";
    case FSA_EV_LIST_END: return "LIST_END";
    case FSA_EV_NONE:
    case FSA_EV_KIND_COUNT: break;
    }
    return "NONE";
}
